"""evaluate.py on a memory task: success_rate in the JSON, another delay with --env-kwargs, and
a model refused in an env of the other kind, in one line with exit 2."""

import json
from pathlib import Path

import pytest
import torch

import evaluate
from agents import DecisionModel, DecisionModelConfig, build_backbone, config_to_spec
from agents.checkpoint import model_payload
from envs.cue_reach import OBSERVATION_DIM
from infra.checkpoint_files import save_checkpoint

MEMORY = ("CueReach-v0", OBSERVATION_DIM, 2, "memory/cue-reach-d12/mixed-v0", {"delay": 12})
LOCOMOTION = ("Hopper-v5", 11, 3, "replica/hopper/medium-v0", {})


def make_run(folder: Path, env) -> Path:
    """A run folder holding a tiny untrained model's checkpoint, as train.py writes it."""
    env_id, obs_dim, act_dim, dataset_id, env_kwargs = env
    torch.manual_seed(0)
    backbone = build_backbone("min-gru", d_model=8, n_layers=1, dropout=0.0)
    model = DecisionModel(DecisionModelConfig(obs_dim, act_dim, layout="stacked"), backbone)
    folder.mkdir(parents=True)
    dataset = {"id": dataset_id, "env_id": env_id, "env_kwargs": env_kwargs}
    dataset |= {"ref_min_score": -4.0, "ref_max_score": -2.0}
    payload = {
        "model": model_payload(model),
        "step": 3,
        "config": {"seed": 0, "backbone": config_to_spec(backbone.config)},
        "dataset": dataset,
    }
    save_checkpoint(folder / "checkpoint.pt", payload)
    return folder


def test_a_memory_run_reports_success_at_its_own_and_at_a_longer_delay(tmp_path):
    run = make_run(tmp_path / "run", MEMORY)
    for delay, kwargs in ((12, []), (36, ["--env-kwargs", "delay=36"])):
        out = tmp_path / f"eval-{delay}.json"
        evaluate.main([str(run), "--episodes", "4", "--json", str(out), *kwargs])
        report = json.loads(out.read_text())
        assert report["env_kwargs"] == {"delay": delay}
        assert report["trained_env_kwargs"] == {"delay": 12}
        result = report["runs"][0]["results"][0]
        assert result["target_return"] == -2.0  # the expert's, by default
        assert set(result["lengths"]) == {delay + 25}
        assert 0.0 <= result["success_rate"] <= 1.0
        assert result["success_rate"] == sum(result["successes"]) / 4


@pytest.mark.parametrize(
    "env, flags, message",
    [
        (MEMORY, ["--env", "hopper"], "trained on a memory task"),
        (LOCOMOTION, ["--env", "cue-reach"], "trained on a locomotion task"),
        (LOCOMOTION, ["--env-kwargs", "delay=30"], "takes no environment keywords"),
        (MEMORY, ["--env-kwargs", "delay"], "KEY=VALUE"),
    ],
)
def test_a_model_in_an_env_of_the_other_kind_is_refused(tmp_path, capsys, env, flags, message):
    run = make_run(tmp_path / "run", env)
    out = tmp_path / "eval.json"
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main([str(run), "--episodes", "2", "--json", str(out), *flags])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert message in error and "\n" not in error
    assert not out.exists()
