"""export.py: the files it writes, the standalone example that runs them, and refusal of bad
input (one line, exit 2, nothing written)."""

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import export
from agents import DecisionModel, DecisionModelConfig, build_backbone, config_to_spec
from agents.checkpoint import load_models, model_payload
from envs.make import make_vector_env
from envs.policy_step import PolicyStep
from envs.recurrent_policy import RecurrentPolicy
from envs.rollout import rollout
from infra.checkpoint_files import load_checkpoint, save_checkpoint
from tests.helpers.paths import REPOSITORY

pytest.importorskip("onnxruntime")

EXAMPLE = REPOSITORY / "examples" / "run_exported_policy.py"
ENV_ID, OBS_DIM, ACT_DIM = "Hopper-v5", 11, 3


def make_run(folder: Path, seeds=(0,), backbone: str = "min-gru") -> Path:
    """A run folder as train.py writes it, of tiny untrained models: one, or with several seeds
    one member per seed (weights stacked member first)."""
    models = []
    for seed in seeds:
        torch.manual_seed(seed)
        model = DecisionModel(
            DecisionModelConfig(OBS_DIM, ACT_DIM, context_length=4),
            build_backbone(backbone, d_model=8, n_layers=1, dropout=0.0),
        )
        model.set_observation_statistics(torch.randn(OBS_DIM), 1 + torch.rand(OBS_DIM))
        models.append(model)
    payload = model_payload(models[0])
    entries = {"config": {"seed": seeds[0], "backbone": config_to_spec(models[0].backbone.config)}}
    if len(seeds) > 1:
        states = [model.state_dict() for model in models]
        payload["state_dict"] = {name: torch.stack([s[name] for s in states]) for name in states[0]}
        entries["members"] = {"seeds": list(seeds)}
    dataset = {"id": "replica/hopper/medium-v0", "env_id": ENV_ID}
    folder.mkdir(parents=True)
    save_checkpoint(
        folder / "checkpoint.pt",
        {"model": payload, "step": 3, "dataset": dataset | {"ref_min_score": None}} | entries,
    )
    return folder


def export_cli(*argv):
    export.main([str(arg) for arg in argv])


def test_the_example_drives_the_exported_policy_as_the_toolkit_does(tmp_path):
    run = make_run(tmp_path / "run")
    policy = tmp_path / "policy.onnx"
    export_cli(run, "--out", policy, "--target-return", 1800)

    # Outside the repository, with nothing of it on the path.
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    episodes, time_limit, seed = 3, 200, 5
    result = subprocess.run(
        [sys.executable, EXAMPLE, policy, "--episodes", str(episodes)]
        + ["--max-steps", str(time_limit), "--seed", str(seed)],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.findall(r"episode \d+: return (\S+), (\d+) steps", result.stdout)
    assert len(found) == episodes, result.stdout

    # The toolkit's own rollout of the checkpoint, from the same env seed.
    (_, model), *_ = load_models(load_checkpoint(run / "checkpoint.pt"))
    envs = make_vector_env(ENV_ID, 1, max_episode_steps=time_limit)
    space = envs.single_action_space
    with torch.inference_mode():
        toolkit = rollout(
            envs, RecurrentPolicy(model, 1800.0, 1, space.low, space.high), np.array([3]), seed
        )
    envs.close()
    np.testing.assert_array_equal([int(steps) for _, steps in found], toolkit.lengths)
    returns = [float(value) for value, _ in found]
    np.testing.assert_allclose(returns, toolkit.returns, rtol=1e-3)


def test_the_example_imports_only_numpy_gymnasium_and_onnxruntime():
    imported = set()
    for node in ast.walk(ast.parse(EXAMPLE.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert imported - set(sys.stdlib_module_names) == {"numpy", "gymnasium", "onnxruntime"}


@pytest.mark.slow
def test_one_member_of_a_several_seed_run_as_a_torch_program(tmp_path):
    run = make_run(tmp_path / "run", seeds=(4, 9))
    program_path = tmp_path / "member.pt2"
    export_cli(run, "--member", 1, "--format", "torch", "--out", program_path)

    extra = {"metadata.json": ""}
    program = torch.export.load(program_path, extra_files=extra)
    metadata = json.loads(extra["metadata.json"])
    assert metadata["training_seed"] == "9" and metadata["backbone"] == "min-gru"
    assert metadata["target_return"] == "3600.0"  # CORL's high target for Hopper
    (_, _), (_, member) = load_models(load_checkpoint(run / "checkpoint.pt"))
    step = PolicyStep(member, -np.ones(ACT_DIM), np.ones(ACT_DIM))
    inputs = (torch.randn(3, OBS_DIM), torch.full((3, 1), 500.0), torch.tensor([0, 5, 2000]))
    state = step.initial_state(3)
    with torch.no_grad():
        expected = step(*inputs, *state)
    actual = program.module()(*inputs, *state)
    for one, other in zip(actual, expected, strict=True):
        torch.testing.assert_close(one, other)


def unsafe_checkpoint(run: Path) -> None:
    payload = load_checkpoint(run / "checkpoint.pt")
    torch.save(payload | {"settings": ValueError("rebuilt by running code")}, run / "checkpoint.pt")


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing run", "no such run folder"),
        ("not a run folder", "no such checkpoint file"),
        ("unsafe checkpoint", "possibly unsafe"),
        ("no such out folder", "no such folder"),
        ("out is a folder", "is a folder"),
        ("unknown format", "unknown --format 'tflite'"),
        ("export extra missing", "pip install -e '.[export]'"),
        ("members without --member", "--member 0 .. 1"),
        ("member out of range", "--member 2 is out of range"),
        ("member of a single run", "holds one model"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    tmp_path, capsys, monkeypatch, case, message
):
    out_folder = tmp_path / "out"
    out_folder.mkdir()
    run, out, options = make_run(tmp_path / "run"), out_folder / "policy.onnx", []
    if case == "missing run":
        run = tmp_path / "nowhere"
    elif case == "not a run folder":
        run = tmp_path / "empty"
        run.mkdir()
    elif case == "unsafe checkpoint":
        unsafe_checkpoint(run)
    elif case == "no such out folder":
        out = tmp_path / "absent" / "policy.onnx"
    elif case == "out is a folder":
        out = out_folder
    elif case == "unknown format":
        options = ["--format", "tflite"]
    elif case == "export extra missing":
        monkeypatch.setattr(export, "ONNX_MODULES", ("onnx", "an_onnx_exporter_not_installed"))
    elif case.startswith("member"):
        run = make_run(tmp_path / "members", seeds=(4, 9))
        options = ["--member", 2] if case == "member out of range" else []
        if case == "member of a single run":
            run, options = tmp_path / "run", ["--member", 1]
    with pytest.raises(SystemExit) as exit_info:
        export_cli(run, "--out", out, *options)
    assert exit_info.value.code == 2
    stderr = capsys.readouterr().err.strip()
    assert stderr.startswith("error: ") and message in stderr and "\n" not in stderr
    assert not list(out_folder.iterdir()) and not (tmp_path / "absent").exists()
