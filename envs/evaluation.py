"""Evaluating a decision model: batched episodes in a vector env, conditioned on a target return."""

from typing import Literal

import torch

from envs.make import make_vector_env
from envs.recurrent_policy import RecurrentPolicy
from envs.rollout import EpisodeStats, episode_quotas, rollout
from envs.video import FRAME_SIZE, EpisodeFilm
from envs.windowed_policy import WindowedPolicy

Mode = Literal["recurrent", "windowed"]

# More envs per vector env mean fewer, larger model calls; beyond this, each env runs several
# episodes in turn.
MAX_ENVS = 100


@torch.inference_mode()
def evaluate_model(
    model,
    *,
    env_id: str,
    target_return: float,
    episodes: int,
    mode: Mode = "recurrent",
    seed: int = 0,
    num_envs: int | None = None,
    env_kwargs: dict | None = None,
    film: EpisodeFilm | None = None,
) -> EpisodeStats:
    """Roll `model` out for `episodes` episodes of `env_id`, asking for `target_return`.

    mode "recurrent" steps the backbone one step at a time, carrying its state; "windowed"
    re-runs the model over the last `model.config.context_length` steps at every step.
    Env i of the `num_envs` (default: min(episodes, MAX_ENVS)) is reset with seed + i and runs
    a fixed share of the episodes, so the result depends on `seed` alone. `env_kwargs`: a memory
    task's keywords ({"delay": D}), also another delay than the training data's. `film` films
    the first episode of its first envs (the scores stay those of the same rollout unfilmed)."""
    if mode not in ("recurrent", "windowed"):
        raise ValueError(f"unknown mode {mode!r}; expected 'recurrent' or 'windowed'")
    num_envs = min(episodes, MAX_ENVS) if num_envs is None else num_envs
    quotas = episode_quotas(episodes, num_envs)
    render_size = None if film is None else FRAME_SIZE
    envs = make_vector_env(env_id, num_envs, env_kwargs=env_kwargs, render_size=render_size)
    if mode == "recurrent":
        space = envs.single_action_space
        policy = RecurrentPolicy(model, target_return, num_envs, space.low, space.high)
    else:
        obs_dim = envs.single_observation_space.shape[0]
        act_dim = envs.single_action_space.shape[0]
        policy = WindowedPolicy(model, target_return, num_envs, obs_dim, act_dim)
    was_training = model.training
    model.eval()
    try:
        return rollout(envs, policy, quotas, seed, film)
    finally:
        model.train(was_training)
        envs.close()
