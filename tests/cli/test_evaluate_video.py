"""evaluate.py --video: an MP4 per target return named in the JSON and the table; without GL or
with an unwritable folder, one line and the scores all the same."""

import json

import numpy as np
import pytest

import evaluate
import train
from envs.rendering import choose_gl_backend

imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")

TINY = ["--backbone.d-model", "8", "--backbone.n-layers", "1", "--batch-size", "4"]
TINY += ["--context-length", "4", "--warmup-steps", "1", "--steps", "2", "--eval-episodes", "0"]


@pytest.fixture
def run_dir(tmp_path, tiny_dataset):
    out_dir = tmp_path / "run"
    assert train.main(["--dataset", tiny_dataset, "--out-dir", str(out_dir), *TINY]) == 0
    return out_dir


def evaluated(capsys, run_dir, json_path, *flags) -> tuple[dict, str, str]:
    capsys.readouterr()
    argv = [str(run_dir), "--episodes", "2", "--target-returns", "500", "100", *flags]
    evaluate.main([*argv, "--json", str(json_path)])
    captured = capsys.readouterr()
    return json.loads(json_path.read_text()), captured.out, captured.err


def frame_count(path) -> tuple[int, tuple[int, int]]:
    reader = imageio_ffmpeg.read_frames(str(path))
    size = next(reader)["size"]
    return sum(1 for _ in reader), size


def test_videos_are_written_named_and_decodable(
    run_dir, tmp_path, capsys, short_episodes, monkeypatch
):
    monkeypatch.setenv("MUJOCO_GL", "egl")
    monkeypatch.setenv("PYOPENGL_PLATFORM", "egl")
    if (problem := choose_gl_backend()) is not None:
        pytest.skip(problem)
    videos = tmp_path / "videos"
    report, out, _ = evaluated(capsys, run_dir, tmp_path / "eval.json", "--video", str(videos))
    results = report["runs"][0]["results"]
    assert [len(result["videos"]) for result in results] == [1, 1]
    for result in results:
        path = result["videos"][0]
        assert f"target-{result['target_return']:g}" in path
        assert path in out.replace("\n", "").replace(" ", "")  # the table names it
        frames, size = frame_count(path)
        # Hopper: every 5th step; the reset frame, then steps 5, 10, ... before the last.
        assert frames == 1 + (result["lengths"][0] - 1) // 5
        assert size == (256, 256)
    assert sorted(p.name for p in videos.iterdir()) == sorted(
        p.split("/")[-1] for result in results for p in result["videos"]
    )


def test_without_gl_the_scores_are_written_after_one_line(
    run_dir, tmp_path, capsys, short_episodes, monkeypatch
):
    monkeypatch.setenv("MUJOCO_GL", "egl")
    monkeypatch.setenv("__EGL_VENDOR_LIBRARY_FILENAMES", "/nonexistent.json")  # no EGL driver
    filmed, _, err = evaluated(
        capsys, run_dir, tmp_path / "a.json", "--video", str(tmp_path / "videos")
    )
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "install libegl1" in warnings[0]
    plain, _, _ = evaluated(capsys, run_dir, tmp_path / "b.json")
    for with_video, without in zip(
        filmed["runs"][0]["results"], plain["runs"][0]["results"], strict=True
    ):
        assert with_video["videos"] == []
        assert with_video["returns"] == without["returns"]


def test_an_unwritable_video_folder_costs_one_line_not_the_scores(
    run_dir, tmp_path, capsys, short_episodes
):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    report, _, err = evaluated(
        capsys, run_dir, tmp_path / "eval.json", "--video", str(blocker / "videos")
    )
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and f"--video {blocker / 'videos'}: cannot write there" in err
    scores = [result["normalized_scores"] for result in report["runs"][0]["results"]]
    assert len(scores) == 2 and all(np.isfinite(s).all() and len(s) == 2 for s in scores)
