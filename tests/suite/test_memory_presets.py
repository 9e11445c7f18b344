"""The memory presets: rows with training settings of their own, memory datasets recognised and
built by the suite, and (slow) memory-smoke run for real, shortened, with success_rate in every
evaluation and the report's success table."""

import json
from pathlib import Path

import pytest

import benchmark
from suite.dataset_preparation import memory_level
from suite.spec import load_preset, resolve


def test_variant_rows_train_with_their_own_settings():
    suite = resolve(load_preset("memory-smoke"))
    dataset = suite.datasets[0]
    whole = suite.training_args(dataset, "min-gru", (0,), Path("runs/a"))
    window = suite.training_args(dataset, "transformer@K20", (0,), Path("runs/b"))
    assert whole.from_episode_start and whole.context_length == 1000
    assert not window.from_episode_start and window.context_length == 20
    assert type(window.backbone).__name__ == "TransformerConfig"
    assert window.backbone.n_heads == 1 and window.layout == whole.layout == "stacked"


@pytest.mark.parametrize(
    "dataset, level",
    [
        ("memory/cue-reach-d30/mixed-v0", ("cue-reach", "mixed", 30)),
        ("memory/cue-reach-d300/expert-v0", ("cue-reach", "expert", 300)),
        ("memory/cue-reach-d030/expert-v0", None),
        ("memory/cue-reach-d30/medium-v0", None),
        ("memory/t-maze-d30/mixed-v0", None),
        ("replica/hopper/medium-v0", None),
    ],
)
def test_memory_dataset_ids_name_a_task_level_and_delay(dataset, level):
    assert memory_level(dataset) == level


@pytest.mark.slow
def test_memory_smoke_runs_and_reports_success(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "store"))
    out = tmp_path / "results"
    flags = ["--steps", "20", "--warmup-steps", "5", "--checkpoint-every", "10"]
    flags += ["--eval-every", "20", "--eval-episodes", "2", "--final-eval-episodes", "4"]
    flags += ["--dataset-steps", "1100", "--test-delay-factor", "3"]
    assert benchmark.main(["run", "--preset", "memory-smoke", "--out-dir", str(out), *flags]) == 0
    for run_dir in (out / "runs").iterdir():
        evaluation = json.loads((run_dir / "eval-recurrent.json").read_text())
        rate = evaluation["runs"][0]["results"][0]["success_rate"]
        assert 0.0 <= rate <= 1.0
        assert evaluation["env_kwargs"] == {"delay": 30}
        longer = json.loads((run_dir / "eval-recurrent-delay-x3.json").read_text())
        assert longer["env_kwargs"] == {"delay": 90}
        assert longer["trained_env_kwargs"] == {"delay": 30}
    markdown = (out / "report.md").read_text()
    assert "## Success rate (memory tasks)" in markdown
    assert "tested at 3D" in markdown
    assert (out / "memory-success.png").stat().st_size > 0
