"""benchmark.py refuses bad input in one line, exit status 2, before writing anything; suites
come from presets, suite files and flags."""

import json
import os
import sys

import pytest
import torch

import benchmark
from infra.locks import acquire_lock
from suite.engines import default_workers
from suite.spec import load_preset, load_suite_file, resolve


def refused(capsys, argv: list[str]) -> str:
    assert benchmark.main(argv) == 2
    message = capsys.readouterr().err.strip()
    assert message.startswith("error: ") and "\n" not in message, message
    return message


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--preset", "huge"], "unknown preset 'huge'"),
        (
            ["--datasets", "replica/hopper/nothing-v0"],
            "unknown dataset 'replica/hopper/nothing-v0'",
        ),
        (["--backbones", "min-gru", "rwkv"], "unknown backbone 'rwkv'"),
        (["--overrides", "transformer.heads=2"], "unknown field 'heads' for backbone transformer"),
        (["--overrides", "s4.n_heads=2"], "'s4', which is not among --backbones"),
        (["--backbone-settings", "d_model=0"], "d_model and n_layers must be positive"),
        (["--seeds"], "--seeds needs at least one value"),
        (["--seeds", "1", "1"], "--seeds lists a value twice"),
        (["--steps", "0"], "--steps must be positive"),
        (["--final-eval-episodes", "0"], "--final-eval-episodes must be positive"),
        (["--eval-episodes", "-1"], "--eval-episodes must be >= 0"),
        (["--workers", "0"], "--workers must be positive"),
        (["--datasets", "replica/walker2d/medium-v0"], "must be built: give --policies-dir"),
        (["--engine", "ray", "--ray-address", "127.0.0.1:9"], "--ray-address 127.0.0.1:9: cannot"),
        (["--gpus-per-run", "0"], "--gpus-per-run must be in (0, 1], got 0"),
        (["--gpus-per-run", "1.5", "--engine", "ray"], "--gpus-per-run must be in (0, 1], got 1.5"),
    ],
)
def test_bad_input_is_one_line_and_nothing_is_written(
    tmp_path, monkeypatch, capsys, flags, expected
):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    out_dir = tmp_path / "results"
    message = refused(capsys, ["run", "--preset", "smoke", "--out-dir", str(out_dir), *flags])
    assert expected in message
    assert not out_dir.exists()


def test_ray_engine_without_ray_names_the_install_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    message = refused(capsys, ["run", "--out-dir", str(tmp_path / "r"), "--engine", "ray"])
    assert "pip install" in message and not (tmp_path / "r").exists()


def test_a_results_folder_of_another_suite_is_refused(tmp_path, capsys):
    out_dir = tmp_path / "results"
    out_dir.mkdir()
    (out_dir / "suite.json").write_text(json.dumps(resolve(load_preset("smoke")).to_dict()))
    before = (out_dir / "suite.json").read_text()
    message = refused(capsys, ["run", "--out-dir", str(out_dir), "--steps", "30"])
    assert "holds another suite: --steps is 20 there, 30 here" in message
    message = refused(capsys, ["run", "--out-dir", str(out_dir), "--seeds", "0"])
    assert "--seeds drops 1" in message
    assert (out_dir / "suite.json").read_text() == before
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    assert "holds other files" in refused(capsys, ["run", "--out-dir", str(tmp_path / "other")])
    assert "no suite.json" in refused(capsys, ["report", str(tmp_path / "other")])


def test_suite_file_and_flags(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(
        'datasets = ["replica/hopper/mini-v0"]\nbackbones = ["all"]\nseeds = [3]\n'
        'steps = 7\n[overrides.s4]\ninit = "inv"\n'
    )
    suite = resolve(load_suite_file(path))
    from agents import BACKBONES

    assert suite.name == "mine" and suite.backbones == tuple(BACKBONES)  # read at run time
    assert suite.overrides == {"s4": {"init": "inv"}} and suite.steps == 7
    assert suite.final_eval_episodes == 100 and suite.batch_size == 64  # train.py's defaults
    command = benchmark.Run(
        out_dir=tmp_path,
        suite=path,
        settings=benchmark.SuiteFlags(
            seeds=(0, 1), backbones=("min-gru", "s4"), overrides=("s4.init=lin",)
        ),
    )
    suite = benchmark.suite_of(command)
    assert suite.seeds == (0, 1) and suite.overrides == {"s4": {"init": "lin"}}
    args = suite.training_args(suite.datasets[0], "s4", (0,), tmp_path)
    assert args.backbone.init == "lin" and args.steps == 7


def test_unknown_setting_in_a_suite_file(tmp_path, capsys):
    path = tmp_path / "typo.toml"
    path.write_text("step = 7\n")
    message = refused(capsys, ["run", "--suite", str(path), "--out-dir", str(tmp_path / "r")])
    assert "unknown setting 'step'" in message


def test_a_results_folder_in_use_by_another_suite_is_refused(tmp_path, capsys):
    out_dir = tmp_path / "results"
    out_dir.mkdir()
    with acquire_lock(out_dir / ".lock", "a results folder in use"):  # as another suite would
        message = refused(capsys, ["run", "--preset", "smoke", "--out-dir", str(out_dir)])
    assert f"another process is using results folder {out_dir}" in message
    assert [p.name for p in out_dir.iterdir()] == [".lock"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="refused only without a GPU")
def test_gpus_per_run_without_a_gpu_is_refused(tmp_path, capsys):
    message = refused(capsys, ["run", "--out-dir", str(tmp_path / "r"), "--gpus-per-run", "0.5"])
    assert "--gpus-per-run 0.5: no GPU on this machine" in message
    assert not (tmp_path / "r").exists()


def test_local_workers_per_gpu_follow_gpus_per_run():
    assert default_workers(1, None, gpus=2) == 2  # a whole GPU per run
    assert default_workers(1, 0.25, gpus=2) == 8  # 4 per GPU, CUDA_VISIBLE_DEVICES round-robin
    assert default_workers(1, 0.3, gpus=1) == 3
    assert default_workers(2, 0.5, gpus=0) == max(1, (os.cpu_count() or 1) // 2)  # CPUs only


def test_ray_address_auto_without_a_recorded_cluster_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path / "ray-folder"))  # none recorded there
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    argv = ["run", "--out-dir", str(tmp_path / "r"), "--engine", "ray", "--ray-address", "auto"]
    message = refused(capsys, argv)
    assert message.startswith("error: --ray-address auto: no Ray cluster is running here")
    assert not (tmp_path / "r").exists()
