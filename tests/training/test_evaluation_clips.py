"""train.py --video-every: a clip of an evaluation episode in TensorBoard, one member's."""

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import train
from envs.rendering import choose_gl_backend
from training.evaluation_clips import TAG

pytest.importorskip("moviepy.editor")  # what TensorBoard's add_video encodes with

TINY = ["--backbone.d-model", "8", "--backbone.n-layers", "1", "--batch-size", "4"]
TINY += ["--context-length", "4", "--warmup-steps", "1", "--eval-episodes", "1"]


@pytest.mark.slow  # training, an evaluation and a GIF: ~20 s on two busy cores
def test_a_run_of_two_seeds_logs_one_clip_per_video_step(
    tmp_path, tiny_dataset, short_episodes, monkeypatch
):
    monkeypatch.setenv("MUJOCO_GL", "egl")
    monkeypatch.setenv("PYOPENGL_PLATFORM", "egl")
    if (problem := choose_gl_backend()) is not None:
        pytest.skip(problem)
    run_dir = tmp_path / "run"
    flags = ["--seeds", "0", "1", "--steps", "4", "--eval-every", "2", "--video-every", "4"]
    argv = ["--dataset", tiny_dataset, *TINY, *flags, "--out-dir", str(run_dir)]
    assert train.main(argv) == 0
    events = EventAccumulator(str(run_dir), size_guidance={"images": 0})
    events.Reload()
    assert events.Tags()["images"] == [TAG]  # one member's clip, no per-seed tags
    (clip,) = events.Images(TAG)
    assert clip.step == 4 and (clip.width, clip.height) == (256, 256)
    assert clip.encoded_image_string[:6] == b"GIF89a"  # an animated GIF, as TensorBoard plays
