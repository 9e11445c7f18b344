"""Run folders as train.py leaves them, without training, and evaluate.py called as from its
command line."""

from pathlib import Path

import torch

import evaluate
from agents import DecisionModel, DecisionModelConfig, build_backbone, config_to_spec
from agents.checkpoint import model_payload
from infra.checkpoint_files import save_checkpoint

ENVS = {
    "Hopper-v5": (11, 3, "replica/hopper/medium-v0"),
    "Walker2d-v5": (17, 6, "replica/walker2d/medium-v0"),
}


def make_run(
    folder: Path,
    seed: int,
    env_id: str = "Hopper-v5",
    ref_scores=(None, None),
    backbone: str = "min-gru",
    step: int = 7,
    settings: dict | None = None,
    mean_episode_return: float | None = None,
) -> Path:
    """A run folder holding the checkpoint of a tiny untrained model, as train.py writes it;
    `settings` are further entries of its saved config."""
    obs_dim, act_dim, dataset_id = ENVS[env_id]
    torch.manual_seed(seed)
    backbone_model = build_backbone(backbone, d_model=8, n_layers=1, dropout=0.0)
    model = DecisionModel(DecisionModelConfig(obs_dim, act_dim, context_length=4), backbone_model)
    folder.mkdir(parents=True)
    dataset = {
        "id": dataset_id,
        "env_id": env_id,
        "ref_min_score": ref_scores[0],
        "ref_max_score": ref_scores[1],
    }
    if mean_episode_return is not None:
        dataset["mean_episode_return"] = mean_episode_return
    payload = {
        "model": model_payload(model),
        "step": step,
        "config": {"seed": seed, "backbone": config_to_spec(backbone_model.config)}
        | (settings or {}),
        "dataset": dataset,
    }
    save_checkpoint(folder / "checkpoint.pt", payload)
    return folder


def run_cli(*argv):
    """evaluate.py with `argv` (any values, as strings), in this process."""
    evaluate.main([str(arg) for arg in argv])
