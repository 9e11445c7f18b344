"""evaluate_model with real (tiny, untrained) decision models on Hopper-v5."""

import numpy as np
import pytest
import torch

from agents import DecisionModel, DecisionModelConfig, build_backbone
from envs.evaluation import evaluate_model

OBS_DIM, ACT_DIM = 11, 3


def tiny_model(backbone: str, layout: str, context_length: int) -> DecisionModel:
    torch.manual_seed(0)
    config = DecisionModelConfig(OBS_DIM, ACT_DIM, layout=layout, context_length=context_length)
    model = DecisionModel(config, build_backbone(backbone, d_model=16, n_layers=1, dropout=0.0))
    # float64, so that the parallel and step-wise computations agree to rounding
    return model.double()


@pytest.mark.parametrize("mode", ["recurrent", "windowed"])
@pytest.mark.parametrize("layout", ["interleaved", "stacked"])
def test_both_modes_run_end_to_end(mode, layout):
    model = tiny_model("min-gru", layout, context_length=4)
    stats = evaluate_model(
        model, env_id="Hopper-v5", target_return=3600.0, episodes=2, mode=mode, seed=0
    )
    assert stats.returns.shape == stats.lengths.shape == (2,)
    assert np.isfinite(stats.returns).all() and (stats.lengths >= 1).all()


@pytest.mark.parametrize("backbone", ["min-gru", "gru"])
@pytest.mark.parametrize("layout", ["interleaved", "stacked"])
def test_windowed_equals_recurrent_when_the_window_holds_the_whole_episode(backbone, layout):
    """With K at least the episode length the window never slides: both modes see the same
    history, so a recurrent backbone must choose the same actions either way."""
    K = 100
    results = {
        mode: evaluate_model(
            tiny_model(backbone, layout, context_length=K),
            env_id="Hopper-v5",
            target_return=3600.0,
            episodes=3,
            mode=mode,
            seed=2,
        )
        for mode in ("recurrent", "windowed")
    }
    recurrent, windowed = results["recurrent"], results["windowed"]
    assert recurrent.lengths.max() <= K, "the episode outgrew the window; raise K"
    np.testing.assert_array_equal(recurrent.lengths, windowed.lengths)
    np.testing.assert_allclose(recurrent.returns, windowed.returns, rtol=1e-9)
