"""Score normalisation: the reference returns a score is normalised with (the dataset's or
D4RL's), the note saying what it compares with, and the environment and target returns of a
dataset."""

from types import SimpleNamespace

import numpy as np
import pytest

from envs.make import dataset_env_id, env_id_for
from envs.normalization import (
    D4RL_REFERENCE_RETURNS,
    normalization_note,
    normalized_score,
    reference_returns,
)
from envs.target_returns import default_target_returns


def test_dataset_reference_scores_win_when_both_are_present():
    chosen = reference_returns("Hopper-v5", -10.0, 3000.0)
    assert (chosen.ref_min, chosen.ref_max, chosen.source) == (-10.0, 3000.0, "dataset")
    for partial in [(None, 3000.0), (-10.0, None), (None, None)]:
        chosen = reference_returns("Hopper-v5", *partial)
        assert (chosen.ref_min, chosen.ref_max) == D4RL_REFERENCE_RETURNS["Hopper-v5"]
        assert chosen.source == "d4rl"
    with pytest.raises(ValueError, match="Ant-v5"):
        reference_returns("Ant-v5")


def test_d4rls_own_constants_count_as_d4rls_and_cover_the_v4_environments():
    for v4, v5 in [("Hopper-v4", "Hopper-v5"), ("Walker2d-v4", "Walker2d-v5")]:
        assert D4RL_REFERENCE_RETURNS[v4] == D4RL_REFERENCE_RETURNS[v5]
    assert D4RL_REFERENCE_RETURNS["HalfCheetah-v4"] == (-280.178953, 12135.0)
    # An imported D4RL file (and a replica) stores D4RL's constants as its own.
    stored = reference_returns("Hopper-v4", -20.272305, 3234.3)
    assert (stored.ref_min, stored.ref_max, stored.source) == (-20.272305, 3234.3, "d4rl")
    assert reference_returns("Hopper-v4").source == "d4rl"


def test_the_note_says_what_a_score_compares_with():
    assert "like for like" in normalization_note("d4rl", "Hopper-v4")
    v5 = normalization_note("d4rl", "Walker2d-v5")
    assert "approximation" in v5 and "Walker2d-v5" in v5 and "mujoco/*-v0" in v5
    assert "like for like" not in v5
    own = normalization_note("dataset", "Hopper-v4")
    assert "dataset's own" in own and "like for like" not in own


def test_normalized_score_maps_random_to_0_and_expert_to_100():
    ref_min, ref_max = D4RL_REFERENCE_RETURNS["Walker2d-v5"]
    np.testing.assert_allclose(normalized_score([ref_min, ref_max], ref_min, ref_max), [0, 100])


def test_dataset_env_id_reads_the_metadata():
    dataset = SimpleNamespace(id="replica/hopper/mini-v0", env_spec=SimpleNamespace(id="Hopper-v5"))
    assert dataset_env_id(dataset) == "Hopper-v5"
    imported = SimpleNamespace(id="d4rl/hopper/medium-v2", env_spec=SimpleNamespace(id="Hopper-v4"))
    assert dataset_env_id(imported) == "Hopper-v4"
    assert env_id_for("hopper") == "Hopper-v5" and env_id_for("Walker2d-v4") == "Walker2d-v4"
    with pytest.raises(ValueError, match="unknown environment 'Hopper-v3'"):
        env_id_for("Hopper-v3")
    with pytest.raises(ValueError, match="records no environment"):
        dataset_env_id(SimpleNamespace(id="x/y/z-v0", env_spec=None))


def test_default_target_returns_follow_corl():
    assert default_target_returns("hopper") == default_target_returns("Hopper-v5") == (3600, 1800)
    assert default_target_returns("HalfCheetah-v5") == (12000, 6000)
    assert default_target_returns("walker2d") == (5000, 2500)
    assert default_target_returns("Walker2d-v4") == (5000, 2500)
    assert default_target_returns("HalfCheetah-v4") == (12000, 6000)
    with pytest.raises(ValueError, match="unknown environment"):
        default_target_returns("Ant-v5")
