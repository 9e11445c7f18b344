"""Importing D4RL files: exact round trips through Minari and the window sampler, the variants
D4RL's files come in, and bad input refused in one line with nothing in the store."""

import hashlib
from pathlib import Path

import h5py
import minari
import numpy as np
import pytest
import torch

from datasets import DatasetError, WindowSampler, load_dataset
from datasets.build_staging import dataset_lock_path
from datasets.import_d4rl import import_d4rl, main
from datasets.minari_store import dataset_ids
from envs.normalization import D4RL_REFERENCE_RETURNS
from tests.helpers.d4rl_layout import behaviour_policies, rollout, write_d4rl_file
from tests.helpers.locks import hold_in_another_process
from tests.helpers.processes import kill

STEPS, TIME_LIMIT = 400, 100  # a few episodes of each ending, then a partial one
DATASET_ID = "d4rl/hopper/medium-v2"


@pytest.fixture(scope="session")
def hopper(tmp_path_factory):
    policies = behaviour_policies(tmp_path_factory.mktemp("policies"))
    return rollout("Hopper-v4", STEPS, TIME_LIMIT, 0, policies)


def variant(arrays: dict, name: str) -> dict:
    """D4RL's files as they come: float32 with next_observations (the -v2 files), float64
    arrays (some medium-replay files), (N, 1) rewards, no next_observations (older files)."""
    arrays = dict(arrays)
    if name == "float64":
        arrays = {
            k: v.astype(np.float64) if v.dtype == np.float32 else v for k, v in arrays.items()
        }
    elif name == "rewards (N, 1)":
        arrays["rewards"] = arrays["rewards"][:, None]  # (N,) -> (N, 1)
    elif name == "no next_observations":
        del arrays["next_observations"]
    return arrays


VARIANTS = ["as D4RL", "float64", "rewards (N, 1)", "no next_observations"]


@pytest.mark.parametrize("name", VARIANTS)
def test_import_keeps_every_step_of_every_whole_episode(tmp_path, hopper, name, capsys):
    path = write_d4rl_file(tmp_path / "hopper_medium-v2.hdf5", variant(hopper.arrays, name))
    main([str(path), "--env", "hopper", "--level", "medium"])

    lengths = hopper.episode_lengths
    kept, dropped = sum(lengths), STEPS - sum(lengths)
    assert 0 < dropped < TIME_LIMIT and True in hopper.terminated and False in hopper.terminated
    assert capsys.readouterr().out == (
        f"imported {DATASET_ID}: {len(lengths)} episodes, {kept} steps; {dropped} steps of a "
        "partial last episode dropped\n"
    )
    source = minari.load_dataset(DATASET_ID)
    assert source.spec.env_spec.id == "Hopper-v4"
    metadata = source.storage.metadata
    assert (metadata["ref_min_score"], metadata["ref_max_score"]) == D4RL_REFERENCE_RETURNS[
        "Hopper-v4"
    ]
    description = metadata["description"]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert f"hopper_medium-v2.hdf5 (sha256 {digest})" in description
    assert f"{len(lengths)} episodes, {kept} steps" in description
    assert f"{dropped} steps after the last episode end" in description
    float64 = "Float64 arrays read as float32: observations, actions, rewards, next_observations."
    assert (float64 in description) == (name == "float64")

    file = hopper.arrays
    ends = np.cumsum(lengths)
    for episode, start, end in zip(source.iterate_episodes(), ends - lengths, ends, strict=True):
        assert episode.observations.dtype == episode.actions.dtype == np.float32
        np.testing.assert_array_equal(episode.observations[:-1], file["observations"][start:end])
        np.testing.assert_array_equal(episode.actions, file["actions"][start:end])
        np.testing.assert_array_equal(episode.rewards, file["rewards"][start:end])
        np.testing.assert_array_equal(episode.terminations, file["terminals"][start:end])
        np.testing.assert_array_equal(episode.truncations, file["timeouts"][start:end])
        successor = file["next_observations"][end - 1]
        if name == "no next_observations":
            # Stepped again from the recorded float32 state: the successor up to that rounding.
            np.testing.assert_allclose(episode.observations[-1], successor, atol=1e-5)
        else:
            np.testing.assert_array_equal(episode.observations[-1], successor)
    recomputed = "recomputed (the file has no next_observations)" in description
    assert recomputed == (name == "no next_observations")


def test_a_file_ending_with_a_whole_episode_drops_nothing(tmp_path, hopper):
    kept = sum(hopper.episode_lengths)
    whole = {key: values[:kept] for key, values in hopper.arrays.items()}
    imported = import_d4rl(write_d4rl_file(tmp_path / "whole.hdf5", whole), "hopper", "expert")
    assert (imported.dataset_id, imported.steps, imported.dropped_steps) == (
        "d4rl/hopper/expert-v2",
        kept,
        0,
    )


def test_the_sampler_draws_exactly_the_files_steps(tmp_path, hopper):
    import_d4rl(write_d4rl_file(tmp_path / "f.hdf5", hopper.arrays), "hopper", "medium")
    dataset = load_dataset(DATASET_ID)
    file = hopper.arrays
    kept = sum(hopper.episode_lengths)
    assert dataset.env_id == "Hopper-v4"
    assert (dataset.ref_min_score, dataset.ref_max_score) == D4RL_REFERENCE_RETURNS["Hopper-v4"]
    np.testing.assert_array_equal(dataset.episode_lengths, hopper.episode_lengths)
    np.testing.assert_array_equal(dataset.observations, file["observations"][:kept])
    np.testing.assert_array_equal(dataset.actions, file["actions"][:kept])
    np.testing.assert_array_equal(dataset.rewards, file["rewards"][:kept])

    ends = np.repeat(np.cumsum(hopper.episode_lengths), hopper.episode_lengths)  # (kept,)
    rewards = file["rewards"].astype(np.float64)
    K = 20
    batch = WindowSampler(dataset, K).sample(64, torch.Generator().manual_seed(0))
    for b in range(64):
        # The window's first observation says which row of the file it starts at.
        (row,) = np.flatnonzero((file["observations"] == batch.observations[b, 0].numpy()).all(1))
        length = int(batch.mask[b].sum())
        assert length == min(K, ends[row] - row)  # cut at the episode's end, nowhere else
        rows = slice(row, row + length)
        np.testing.assert_array_equal(batch.observations[b, :length], file["observations"][rows])
        np.testing.assert_array_equal(batch.actions[b, :length], file["actions"][rows])
        returns_to_go = [rewards[step : ends[row]].sum() for step in range(row, row + length)]
        np.testing.assert_allclose(batch.returns_to_go[b, :length], returns_to_go, rtol=1e-5)


def test_help_names_the_file_env_and_level(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "120")
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    text = capsys.readouterr().out
    assert exit_info.value.code == 0
    assert text.startswith("usage: python -m datasets.import_d4rl [-h] [OPTIONS] FILE.hdf5")
    assert "--env {hopper,halfcheetah,walker2d}" in text
    assert "--level {random,medium,medium-replay,medium-expert,expert}" in text


# Bad input: one line naming the file, exit 2, nothing in the store.


def without(key: str, *more: str):
    return lambda arrays: {k: v for k, v in arrays.items() if k not in (key, *more)}


def changed(key: str, change):
    return lambda arrays: arrays | {key: change(arrays[key])}


def with_nan(observations: np.ndarray) -> np.ndarray:
    observations = observations.copy()
    observations[7, 2] = np.nan
    return observations


@pytest.mark.parametrize(
    "make_arrays, flags, message",
    [
        (without("timeouts"), [], "no 'timeouts' array; D4RL files hold observations, actions"),
        (
            without("next_observations", "infos/qvel"),
            [],
            "no 'infos/qvel' array (needed without next_observations)",
        ),
        (changed("rewards", lambda r: r[:-1]), [], "arrays of different lengths: observations 400"),
        (
            lambda arrays: arrays,
            ["--env", "walker2d"],
            "observations have shape (400, 11); Walker2d-v4 (--env walker2d) needs (N, 17)",
        ),
        (changed("observations", with_nan), [], "observations at step 7 are not finite"),
        (
            lambda arrays: (
                without("next_observations")(arrays)
                | {"infos/qpos": arrays["infos/qpos"][::-1].copy()}
            ),
            [],
            "do not give its observation in Hopper-v4",
        ),
        (lambda arrays: arrays, ["--env", "ant"], "unknown --env 'ant'; expected one of"),
        (lambda arrays: arrays, ["--level", "legendary"], "unknown --level 'legendary'"),
    ],
)
def test_bad_files_and_flags(tmp_path, minari_store, hopper, capsys, make_arrays, flags, message):
    path = write_d4rl_file(tmp_path / "bad.hdf5", make_arrays(hopper.arrays))
    error = refused(capsys, [str(path), "--env", "hopper", "--level", "medium", *flags])
    assert error.startswith(f"error: {path}: ") and message in error
    assert_store_is_empty(minari_store)


def test_not_an_hdf5_file_and_no_file(tmp_path, minari_store, capsys):
    text = tmp_path / "hopper_medium-v2.hdf5"
    text.write_text("observations,actions\n")
    error = refused(capsys, [str(text), "--env", "hopper", "--level", "medium"])
    assert error == f"error: {text}: not an HDF5 file"
    absent = tmp_path / "absent.hdf5"
    error = refused(capsys, [str(absent), "--env", "hopper", "--level", "medium"])
    assert error == f"error: {absent}: no such file"
    assert_store_is_empty(minari_store)


def test_an_existing_dataset_is_kept_and_the_message_says_how_to_remove_it(
    tmp_path, minari_store, hopper, capsys
):
    path = write_d4rl_file(tmp_path / "hopper_medium-v2.hdf5", hopper.arrays)
    import_d4rl(path, "hopper", "medium")
    data_file = minari_store / DATASET_ID / "data" / "main_data.hdf5"
    before = data_file.read_bytes()
    error = refused(capsys, [str(path), "--env", "hopper", "--level", "medium"])
    assert error == (
        f"error: {path}: dataset '{DATASET_ID}' already exists at {minari_store / DATASET_ID}; "
        f"remove it first (`minari delete {DATASET_ID}`, or delete that folder)"
    )
    assert data_file.read_bytes() == before and dataset_ids(minari_store) == [DATASET_ID]


def test_a_second_import_of_the_same_id_is_refused_while_the_first_runs(
    tmp_path, minari_store, hopper, capsys
):
    minari_store.mkdir()
    lock = dataset_lock_path(minari_store, DATASET_ID)
    first_import = hold_in_another_process(lock)
    try:
        path = write_d4rl_file(tmp_path / "hopper_medium-v2.hdf5", hopper.arrays)
        error = refused(capsys, [str(path), "--env", "hopper", "--level", "medium"])
    finally:
        kill(first_import)
    assert error == (
        f"error: another process is using dataset '{DATASET_ID}' "
        f"(lock {lock} held by pid {first_import.pid})"
    )
    assert dataset_ids(minari_store) == [] and not (minari_store / "d4rl").exists()


def refused(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1, error
    return error.strip()


def assert_store_is_empty(store: Path) -> None:
    """Nothing written: no dataset, no namespace, no staging folder (nor a lock file: bad input
    is refused before the import takes the dataset's lock)."""
    assert not store.exists() or list(store.iterdir()) == []


def test_float_flags_are_read_and_a_group_is_no_array(tmp_path, hopper):
    arrays = hopper.arrays | {"terminals": hopper.arrays["terminals"].astype(np.float32)}
    path = write_d4rl_file(tmp_path / "flags.hdf5", arrays)
    assert import_d4rl(path, "hopper", "medium").episodes == len(hopper.episode_lengths)
    with h5py.File(path, "a") as file:
        del file["actions"]
        file.create_group("actions")
    with pytest.raises(DatasetError, match="no 'actions' array"):
        import_d4rl(path, "hopper", "random")
