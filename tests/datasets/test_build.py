"""Building datasets: policy files, tiny builds round-tripped through load_dataset, bad input."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import minari
import numpy as np
import pytest

from datasets import DatasetError, load_dataset
from datasets.build import build_dataset, build_from_recipe, main
from datasets.build_staging import dataset_lock_path
from datasets.minari_store import dataset_ids
from datasets.policy import load_policy
from datasets.recipe import Recipe, RecipePart, level_recipe, read_recipe
from tests.helpers.locks import hold_in_another_process
from tests.helpers.paths import REPOSITORY, SHARED
from tests.helpers.policies import policy_arrays, write_policy
from tests.helpers.processes import (
    descendants,
    kill,
    stop_pids,
    stop_process_tree,
    wait_until_gone,
)

SHARED_POLICIES = SHARED / "policies"
HOPPER_DIMS = (11, 3)


def tiny_recipe(policy: str, steps: int = 300, dataset_id="test/hopper/tiny-v0") -> Recipe:
    return Recipe(dataset_id, "hopper", (RecipePart(policy, steps),), seed=0)


def build(recipe: Recipe, policies_dir, **options) -> str:
    return build_from_recipe(recipe, policies_dir, workers=1, show_progress=False, **options)


# Policy files.


def test_policy_acts_as_the_format_says(tmp_path):
    arrays = policy_arrays()
    policy = load_policy(write_policy(tmp_path, "p", arrays))
    observations = np.random.default_rng(1).normal(size=(5, 11))
    hidden = np.tanh(observations @ arrays["hidden_w0"].T + arrays["hidden_b0"])
    mean = np.clip(hidden @ arrays["mean_w"].T + arrays["mean_b"], -1, 1)
    np.testing.assert_allclose(policy.act(observations), mean, rtol=1e-5, atol=1e-6)
    stochastic = policy.act(observations, np.random.default_rng(0))
    assert stochastic.shape == (5, 3) and stochastic.dtype == np.float32
    assert np.all(np.abs(stochastic) <= 1) and not np.allclose(stochastic, mean)


def test_state_dependent_log_std_and_tanh_squash(tmp_path):
    arrays = policy_arrays()
    del arrays["log_std"]
    arrays |= {
        "squash": np.array("tanh"),
        "log_std_w": np.zeros((3, 8), np.float32),
        "log_std_b": np.full(3, -30.0, np.float32),  # clamped to -20: nearly deterministic
    }
    policy = load_policy(write_policy(tmp_path, "p", arrays))
    observations = np.ones((2, 11))
    np.testing.assert_allclose(
        policy.act(observations, np.random.default_rng(0)), policy.act(observations), atol=1e-6
    )


def malformed(change) -> dict:
    arrays = policy_arrays()
    change(arrays)
    return arrays


@pytest.mark.parametrize(
    "arrays, message",
    [
        (malformed(lambda a: a.pop("mean_b")), "missing array 'mean_b'"),
        (malformed(lambda a: a.update(hidden_w0=np.zeros((8, 12), np.float32))), "hidden_w0"),
        (malformed(lambda a: a.update(format=np.array("other/2"))), "format"),
        (malformed(lambda a: a.update(activation=np.array("gelu"))), "activation"),
        (malformed(lambda a: a.update(mean_b=np.array([0, np.nan, 0], np.float32))), "NaN"),
        (malformed(lambda a: a.update(log_std=np.array([{"x": 1}], dtype=object))), "pickle"),
    ],
)
def test_malformed_policy_files_name_the_file(tmp_path, arrays, message):
    path = write_policy(tmp_path, "bad", arrays)
    with pytest.raises(DatasetError, match=message) as error:
        load_policy(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_missing_and_unreadable_policy_files(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        load_policy(tmp_path / "absent.npz")
    (tmp_path / "garbage.npz").write_bytes(b"not an archive")
    with pytest.raises(DatasetError, match="garbage.npz"):
        load_policy(tmp_path / "garbage.npz")


# Tiny builds.


def test_build_random_actions_round_trip(minari_store):
    dataset_id = build_dataset("hopper", "random", None, steps=300, workers=1, show_progress=False)
    assert dataset_id == "replica/hopper/random-v0"
    dataset = load_dataset(dataset_id)
    assert dataset.env_id == "Hopper-v5" and dataset.num_steps >= 300
    assert (dataset.observation_dim, dataset.action_dim) == HOPPER_DIMS
    assert np.all(np.abs(dataset.actions) <= 1)
    assert (dataset.ref_min_score, dataset.ref_max_score) == (-20.272305, 3234.3)
    source = minari.load_dataset(dataset_id)
    for episode in source.iterate_episodes():
        # Random Hopper falls over: every episode ends in a termination, on its last step only.
        assert episode.terminations[-1] and not episode.terminations[:-1].any()
        assert not episode.truncations.any()
    assert "uniformly random actions" in source.storage.metadata["description"]
    assert not list(minari_store.glob(".build-*"))  # the staging folder is gone


def test_a_relative_store_path_builds_where_it_points(minari_store, monkeypatch):
    """MINARI_DATASETS_PATH relative to the working folder, as a user may give it."""
    monkeypatch.chdir(minari_store.parent)
    monkeypatch.setenv("MINARI_DATASETS_PATH", minari_store.name)
    dataset_id = build_dataset("hopper", "random", None, steps=100, workers=1, show_progress=False)
    assert (minari_store / dataset_id / "data" / "main_data.hdf5").is_file()
    assert load_dataset(dataset_id).num_steps >= 100


def test_build_from_policy_file_is_reproducible(tmp_path):
    policies = tmp_path / "policies"
    write_policy(policies, "tiny-policy", policy_arrays())
    first = build(tiny_recipe("tiny-policy"), policies)
    second = build(tiny_recipe("tiny-policy", dataset_id="test/hopper/again-v0"), policies)
    a, b = load_dataset(first), load_dataset(second)
    np.testing.assert_array_equal(a.observations, b.observations)
    np.testing.assert_array_equal(a.actions, b.actions)
    description = minari.load_dataset(first).storage.metadata["description"]
    assert "tiny-policy.npz (sha256" in description and "Seed 0" in description


def test_time_limit_truncates_at_1000_steps():
    # HalfCheetah never terminates: its episodes end at the time limit, as truncations.
    dataset_id = build_dataset(
        "halfcheetah", "random", None, steps=1000, num_envs=1, workers=1, show_progress=False
    )
    episodes = list(minari.load_dataset(dataset_id).iterate_episodes())
    assert [len(e.rewards) for e in episodes] == [1000]
    assert episodes[0].truncations[-1] and not episodes[0].truncations[:-1].any()
    assert not episodes[0].terminations.any()
    assert load_dataset(dataset_id).env_id == "HalfCheetah-v5"


def test_steps_rescale_the_mixture():
    recipe = level_recipe("hopper", "medium-replay").scaled_to(400)
    assert [part.steps for part in recipe.parts] == [100, 100, 100, 100]
    assert recipe.dataset_id == "replica/hopper/medium-replay-v0"


def test_bundled_recipe_is_readable():
    recipe = read_recipe(Path("datasets/recipes/hopper-mini-v0.json"))
    assert recipe.dataset_id == "replica/hopper/mini-v0" and recipe.env == "hopper"


# Bad input.


@pytest.mark.parametrize(
    "env, level, message",
    [("ant", "medium", "unknown --env 'ant'"), ("hopper", "legendary", "unknown --level")],
)
def test_unknown_env_or_level(env, level, message):
    with pytest.raises(DatasetError, match=message):
        build_dataset(env, level, None, steps=10)


def test_policy_for_other_dims_or_env(tmp_path):
    policies = tmp_path / "policies"
    write_policy(policies, "wide", policy_arrays(observation_dim=12))
    with pytest.raises(DatasetError, match="wide.npz maps 12-dim observations"):
        build(tiny_recipe("wide"), policies)
    write_policy(policies, "walker", policy_arrays(17, 6, env="Walker2d-v5"))
    with pytest.raises(DatasetError, match="walker.npz is for Walker2d-v5"):
        build(tiny_recipe("walker"), policies)


def test_failed_build_leaves_nothing_behind(tmp_path, minari_store, monkeypatch):
    policies = tmp_path / "policies"
    write_policy(policies, "tiny-policy", policy_arrays())

    def write_then_fail(dataset_id, *args, **kwargs):
        minari.storage.get_dataset_path(dataset_id).joinpath("data").mkdir(parents=True)
        raise OSError("disk full")

    monkeypatch.setattr(minari, "create_dataset_from_buffers", write_then_fail)
    with pytest.raises(OSError, match="disk full"):
        build(tiny_recipe("tiny-policy"), policies)
    assert not (minari_store / "test/hopper/tiny-v0").exists()
    assert not list(minari_store.glob(".build-*"))


def test_existing_dataset_is_kept_unless_overwrite(tmp_path):
    policies = tmp_path / "policies"
    write_policy(policies, "tiny-policy", policy_arrays())
    build(tiny_recipe("tiny-policy", steps=50), policies)
    with pytest.raises(DatasetError, match="already exists"):
        build(tiny_recipe("tiny-policy", steps=50), policies)
    build(tiny_recipe("tiny-policy", steps=400), policies, overwrite=True)
    assert load_dataset("test/hopper/tiny-v0").num_steps >= 400


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--env", "ant", "--level", "medium"], "unknown --env 'ant'"),
        (["--env", "hopper", "--level", "medium", "--policies-dir", "nowhere"], "not found"),
        (["--env", "hopper"], "give --env and --level"),
        (["--recipe", "missing.json"], "recipe missing.json not found"),
        (["--env", "hopper", "--level", "random", "--num-envs", "0"], "must be positive"),
        (["--env", "hopper", "--level", "random", "--steps", "-5"], "--steps must be positive"),
    ],
)
def test_command_line_errors_are_one_line_and_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and message in error and error.count("\n") == 1


def test_progress_without_a_terminal_is_plain_lines_that_never_pass_the_target(capsys):
    main(["--env", "hopper", "--level", "random", "--steps", "300", "--workers", "1"])
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) >= 2
    assert all(line.startswith("build replica/hopper/random-v0: ") for line in lines)
    counts = [line.split(": ")[1].split(" ")[0] for line in lines[:-1]]
    assert all(int(count.split("/")[0]) <= 300 and count.endswith("/300") for count in counts)
    total = load_dataset("replica/hopper/random-v0").num_steps
    assert lines[-1].startswith(f"build replica/hopper/random-v0: {total} steps in ")


def test_a_second_build_of_the_same_id_is_refused_in_one_line(minari_store, capsys):
    lock = dataset_lock_path(minari_store, "replica/hopper/random-v0")
    minari_store.mkdir()
    first_builder = hold_in_another_process(lock)
    try:
        with pytest.raises(SystemExit) as exit_info:
            main(["--env", "hopper", "--level", "random", "--steps", "10", "--workers", "1"])
    finally:
        kill(first_builder)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error == (
        "error: another process is using dataset 'replica/hopper/random-v0' "
        f"(lock {lock} held by pid {first_builder.pid})\n"
    )
    assert not (minari_store / "replica").exists()


def test_leftovers_of_killed_builds_are_removed_unless_a_live_build_holds_them(minari_store):
    killed = minari_store / ".build-test-hopper-killed-v0"
    unlocked = minari_store / ".build-k2j3x_q"  # a staging folder without a lock file
    live = minari_store / ".build-test-hopper-live-v0"
    for folder in (killed, unlocked, live):
        (folder / "data").mkdir(parents=True)
        (folder / "data" / "main_data.hdf5").write_bytes(b"half of a dataset")
    live_builder = hold_in_another_process(dataset_lock_path(minari_store, "test/hopper/live-v0"))
    try:
        build_dataset("hopper", "random", None, steps=50, workers=1, show_progress=False)
        assert not killed.exists() and not unlocked.exists()
        assert (live / "data" / "main_data.hdf5").exists()
    finally:
        kill(live_builder)
    assert dataset_ids(minari_store) == ["replica/hopper/random-v0"]  # lock files are not listed


def test_recipe_file_errors(tmp_path):
    (tmp_path / "bad.json").write_text(json.dumps({"env": "hopper", "parts": []}))
    with pytest.raises(DatasetError, match="bad.json is malformed"):
        read_recipe(tmp_path / "bad.json")
    (tmp_path / "zero.json").write_text(
        json.dumps(
            {"dataset_id": "a/b-v0", "env": "hopper", "parts": [{"policy": "x", "steps": 0}]}
        )
    )
    with pytest.raises(DatasetError, match="steps > 0"):
        read_recipe(tmp_path / "zero.json")


# The shared behaviour policies.


@pytest.mark.skipif(not SHARED_POLICIES.is_dir(), reason=f"{SHARED_POLICIES} is absent")
def test_every_recipe_policy_exists_and_fits_its_env():
    levels = json.loads(Path("datasets/recipes/levels.json").read_text())
    for env, recipes in levels.items():
        for level in recipes:
            recipe = level_recipe(env, level)
            for part in recipe.parts:
                if part.policy == "uniform-random":
                    continue
                policy = load_policy(SHARED_POLICIES / f"{part.policy}.npz")
                assert policy.env_id.lower().startswith(env), (env, level, part.policy)


@pytest.mark.skipif(not SHARED_POLICIES.is_dir(), reason=f"{SHARED_POLICIES} is absent")
def test_build_from_a_shared_policy():
    dataset_id = build_dataset(
        "hopper", "medium", SHARED_POLICIES, steps=500, workers=1, show_progress=False
    )
    dataset = load_dataset(dataset_id)
    assert dataset.num_steps >= 500 and dataset.returns_to_go[0] > 0


# Signals and kills: every worker ends with the builder.


def start_build(store: Path) -> subprocess.Popen:
    """A build long enough to be interrupted, in a session of its own (as from a terminal)."""
    command = [sys.executable, "-m", "datasets.build", "--env", "hopper", "--level", "random"]
    command += ["--steps", "1000000", "--workers", "2"]
    builder = subprocess.Popen(
        command,
        cwd=REPOSITORY,
        env={**os.environ, "MINARI_DATASETS_PATH": str(store)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while len(descendants(builder.pid)) < 3 and time.monotonic() < deadline:  # 2 + a tracker
        time.sleep(0.1)
    time.sleep(3)  # the workers are collecting
    return builder


@pytest.mark.slow  # a few seconds each: two collector processes start
@pytest.mark.parametrize(
    "signal_number, whom", [(signal.SIGINT, "process group"), (signal.SIGTERM, "builder")]
)
def test_ctrl_c_and_sigterm_stop_every_worker_with_one_line(minari_store, signal_number, whom):
    builder = start_build(minari_store)
    workers = descendants(builder.pid)
    try:
        if whom == "process group":  # Ctrl-C in a terminal reaches every process of the group
            os.killpg(builder.pid, signal_number)
        else:
            os.kill(builder.pid, signal_number)
        _, stderr = builder.communicate(timeout=60)
    finally:
        stop_process_tree(builder)
    assert builder.returncode == 128 + signal_number
    again = "python -m datasets.build --env hopper --level random --steps 1000000 --workers 2"
    name = signal.Signals(signal_number).name
    assert stderr.splitlines()[-1] == f"interrupted ({name}); build again with: {again}"
    assert "Traceback" not in stderr
    assert not wait_until_gone(workers, timeout=10)
    # What is left is what a next build cleans up (the lock file stays, by design).
    assert [path.name for path in minari_store.iterdir()] == [".replica-hopper-random-v0.lock"]


@pytest.mark.slow
def test_kill_9_of_the_builder_alone_leaves_no_worker(minari_store):
    builder = start_build(minari_store)
    workers = descendants(builder.pid)
    try:
        os.kill(builder.pid, signal.SIGKILL)
        builder.wait()
        left = wait_until_gone(workers, timeout=10)
    finally:
        stop_pids(workers)
    assert workers and not left
