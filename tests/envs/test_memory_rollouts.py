"""Rollouts of a memory task carry every backbone's state through the whole episode: stepping
with the carried state chooses the same actions as re-reading the whole episode so far."""

import numpy as np
import torch

from agents import DecisionModel, DecisionModelConfig, backbone_config
from envs.cue_reach import OBSERVATION_DIM, episode_length
from envs.evaluation import evaluate_model

DELAY = 12
CONTEXT = episode_length(DELAY)  # the window holds a whole episode: it never slides


def whole_episode_model(backbone: str) -> DecisionModel:
    torch.manual_seed(0)
    config = DecisionModelConfig(OBSERVATION_DIM, 2, layout="stacked", context_length=CONTEXT)
    params = {"d_model": 16, "n_layers": 1, "dropout": 0.0}
    if backbone == "transformer":
        params["n_heads"] = 1
    backbone_settings = backbone_config(backbone, **params).fitted_to_context(CONTEXT)
    # float64, so that the parallel and step-wise computations agree to rounding
    return DecisionModel(config, backbone_settings.build()).double()


def test_the_recurrent_rollout_carries_the_state_through_the_episode(backbone_name):
    """Two episodes per env: the state is carried within an episode and reset between them."""
    stats = {
        mode: evaluate_model(
            whole_episode_model(backbone_name),
            env_id="CueReach-v0",
            env_kwargs={"delay": DELAY},
            target_return=-2.0,
            episodes=4,
            num_envs=2,
            mode=mode,
            seed=5,
        )
        for mode in ("recurrent", "windowed")
    }
    recurrent, windowed = stats["recurrent"], stats["windowed"]
    np.testing.assert_array_equal(recurrent.lengths, [CONTEXT] * 4)
    np.testing.assert_allclose(recurrent.returns, windowed.returns, rtol=1e-9)
    np.testing.assert_array_equal(recurrent.successes, windowed.successes)
