"""Gymnasium MuJoCo environments, score normalisation, and batched evaluation rollouts."""

from envs.evaluation import evaluate_model
from envs.make import D4RL_ENV_IDS, ENV_IDS, dataset_env_id, env_id_for, make_env, make_vector_env
from envs.normalization import normalization_note, normalized_score, reference_returns
from envs.rollout import EpisodeStats, Policy, rollout
from envs.target_returns import default_target_returns

__all__ = [
    "D4RL_ENV_IDS",
    "ENV_IDS",
    "EpisodeStats",
    "Policy",
    "dataset_env_id",
    "default_target_returns",
    "env_id_for",
    "evaluate_model",
    "make_env",
    "make_vector_env",
    "normalization_note",
    "normalized_score",
    "reference_returns",
    "rollout",
]
