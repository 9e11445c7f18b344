"""load_dataset: round trip through Minari, returns-to-go, the bundled dataset, bad datasets."""

import dataclasses
import warnings

import h5py
import minari
import numpy as np
import pytest
from minari.data_collector import EpisodeBuffer

from datasets import DatasetError, load_dataset
from datasets.minari_store import BUNDLED_ROOT

BUNDLED_ID = "replica/hopper/mini-v0"


def episode(length: int, rng, observation_dim: int = 11, action_dim: int = 3) -> EpisodeBuffer:
    return EpisodeBuffer(
        observations=rng.normal(size=(length + 1, observation_dim)),
        actions=rng.uniform(-1, 1, (length, action_dim)).astype(np.float32),
        rewards=rng.normal(size=length),
        terminations=np.arange(length) == length - 1,
        truncations=np.zeros(length, dtype=bool),
    )


def write(dataset_id: str, buffers: list[EpisodeBuffer], **scores) -> None:
    buffers = [dataclasses.replace(buffer, id=index) for index, buffer in enumerate(buffers)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        minari.create_dataset_from_buffers(dataset_id, buffers, env="Hopper-v5", **scores)


def test_round_trip_and_returns_to_go():
    rng = np.random.default_rng(0)
    buffers = [episode(n, rng) for n in (4, 1, 6)]
    write("test/hopper/trip-v0", buffers, ref_min_score=-20.0, ref_max_score=3000.0)
    dataset = load_dataset("test/hopper/trip-v0")

    assert dataset.env_id == "Hopper-v5" and dataset.dataset_id == "test/hopper/trip-v0"
    assert (dataset.ref_min_score, dataset.ref_max_score) == (-20.0, 3000.0)
    assert (dataset.num_steps, dataset.num_episodes) == (11, 3)
    assert (dataset.observation_dim, dataset.action_dim) == (11, 3)
    np.testing.assert_array_equal(dataset.episode_starts, [0, 4, 5])
    np.testing.assert_array_equal(dataset.episode_lengths, [4, 1, 6])
    np.testing.assert_array_equal(dataset.timesteps, [0, 1, 2, 3, 0, 0, 1, 2, 3, 4, 5])
    for array in (dataset.observations, dataset.actions, dataset.rewards, dataset.returns_to_go):
        assert array.dtype == np.float32
    # The final observation of each episode is dropped.
    expected_observations = np.concatenate([b.observations[:-1] for b in buffers])
    np.testing.assert_allclose(dataset.observations, expected_observations, rtol=1e-6)
    np.testing.assert_array_equal(dataset.actions, np.concatenate([b.actions for b in buffers]))
    # Returns-to-go by hand: the sum of the rewards from each step to its episode's end.
    expected_returns = [
        sum(buffer.rewards[t:]) for buffer in buffers for t in range(len(buffer.rewards))
    ]
    np.testing.assert_allclose(dataset.returns_to_go, expected_returns, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        dataset.observation_mean, expected_observations.mean(axis=0), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        dataset.observation_std, expected_observations.std(axis=0), rtol=1e-5
    )


def test_reference_scores_absent_are_none():
    write("test/hopper/plain-v0", [episode(3, np.random.default_rng(1))])
    dataset = load_dataset("test/hopper/plain-v0")
    assert dataset.ref_min_score is None and dataset.ref_max_score is None


def test_constant_feature_std_is_floored():
    buffer = episode(5, np.random.default_rng(2))
    buffer.observations[:, 0] = 3.0
    write("test/hopper/constant-v0", [buffer])
    assert load_dataset("test/hopper/constant-v0").observation_std[0] >= 1e-6


def test_missing_id_lists_local_ids_and_both_ways_to_get_one():
    write("test/hopper/present-v0", [episode(2, np.random.default_rng(3))])
    with pytest.raises(DatasetError) as error:
        load_dataset("test/hopper/absent-v0")
    message = str(error.value)
    assert "\n" not in message
    assert "test/hopper/present-v0" in message and BUNDLED_ID in message
    assert "minari download test/hopper/absent-v0" in message
    assert "python -m datasets.build" in message


def test_bundled_dataset_loads_without_a_local_store():
    data_file = BUNDLED_ROOT / BUNDLED_ID / "data" / "main_data.hdf5"
    assert data_file.stat().st_size < 8 * 2**20
    dataset = load_dataset(BUNDLED_ID)
    assert dataset.env_id == "Hopper-v5" and dataset.num_steps >= 50_000
    assert dataset.ref_min_score is not None and dataset.ref_max_score is not None
    # Readable through Minari's own API as well.
    assert minari.MinariDataset(BUNDLED_ROOT / BUNDLED_ID / "data").total_steps == (
        dataset.num_steps
    )


def test_local_store_comes_before_the_bundled_dataset():
    write(BUNDLED_ID, [episode(7, np.random.default_rng(4))])
    assert load_dataset(BUNDLED_ID).num_steps == 7


@pytest.mark.parametrize("field", ["observations", "actions", "rewards"])
@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
def test_non_finite_values_name_the_episode(field, bad_value):
    rng = np.random.default_rng(5)
    buffers = [episode(4, rng), episode(4, rng)]
    getattr(buffers[1], field)[2] = bad_value
    write("test/hopper/nonfinite-v0", buffers)
    with pytest.raises(DatasetError, match=f"episode 1: {field} contain NaN or inf"):
        load_dataset("test/hopper/nonfinite-v0")


@pytest.mark.parametrize("dims", [(12, 3), (11, 2)])
def test_dims_that_do_not_match_the_env(dims):
    rng = np.random.default_rng(6)
    write("test/hopper/dims-v0", [episode(3, rng), episode(3, rng, *dims)])
    with pytest.raises(DatasetError, match="episode 1: .* expected"):
        load_dataset("test/hopper/dims-v0")


def test_empty_dataset():
    write("test/hopper/empty-v0", [])
    with pytest.raises(DatasetError, match="has no episodes"):
        load_dataset("test/hopper/empty-v0")


def test_episode_of_length_zero(minari_store):
    rng = np.random.default_rng(7)
    write("test/hopper/zero-v0", [episode(3, rng), episode(3, rng)])
    # Minari's writer refuses empty episodes; cut one down in the file itself.
    path = minari_store / "test/hopper/zero-v0/data/main_data.hdf5"
    with h5py.File(path, "a") as file:
        group = file["episode_1"]
        for key in ("observations", "actions", "rewards", "terminations", "truncations"):
            keep = 1 if key == "observations" else 0
            group[key].resize(keep, axis=0)
    with pytest.raises(DatasetError, match="episode 1 has length 0"):
        load_dataset("test/hopper/zero-v0")


def test_a_missing_d4rl_dataset_points_to_the_import_command(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    with pytest.raises(DatasetError) as error:
        load_dataset("d4rl/hopper/medium-v2")
    message = str(error.value)
    assert (
        "python -m datasets.import_d4rl hopper_medium-v2.hdf5 --env hopper --level medium"
        in message
    )
    assert "minari download" not in message
