"""Memory-task datasets from the builder: written under memory/<env>-d<D>/<level>-v0, read back
with their delay and reference returns; bad input is one line, exit 2, and nothing written."""

import numpy as np
import pytest

from datasets import load_dataset
from datasets.build import main
from datasets.minari_store import dataset_ids
from envs.cue_reach import episode_length

DELAY = 25
EPISODES = 24


@pytest.fixture(autouse=True)
def minari_store(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "store"))
    return tmp_path / "store"


def build(*flags: str) -> None:
    steps = str(EPISODES * episode_length(DELAY))
    main(["--env", "cue-reach", "--workers", "1", "--steps", steps, *flags])


def test_a_mixed_dataset_round_trips_with_its_delay_and_reference_returns():
    build("--delay", str(DELAY), "--level", "mixed")
    dataset = load_dataset(f"memory/cue-reach-d{DELAY}/mixed-v0")
    assert dataset.env_id == "CueReach-v0" and dataset.env_kwargs == {"delay": DELAY}
    assert set(dataset.episode_lengths) == {episode_length(DELAY)}
    assert dataset.num_episodes >= EPISODES
    # 0 = a random choice of target, 100 = the expert: the mixed data lie between
    returns = dataset.returns_to_go[dataset.episode_starts]
    score = (
        100
        * (returns.mean() - dataset.ref_min_score)
        / (dataset.ref_max_score - dataset.ref_min_score)
    )
    assert dataset.ref_min_score < dataset.ref_max_score
    assert -40 < score < 60
    # the cue is in each episode's first observation only
    cues = dataset.observations[:, 6:8]
    assert np.all(cues[dataset.episode_starts, 1] != 0)
    assert np.count_nonzero(cues[:, 1]) == dataset.num_episodes


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--env", "cue-reach", "--delay", "0", "--level", "expert"], "--delay must be a positive"),
        (
            ["--env", "cue-reach", "--delay", "-5", "--level", "expert"],
            "--delay must be a positive",
        ),
        (["--env", "cue-reach", "--delay", "30", "--level", "medium"], "unknown --level"),
        (["--env", "cue-reach", "--level", "expert"], "needs --delay"),
        (["--env", "hopper", "--delay", "30", "--level", "medium"], "--delay is for the memory"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(flags, message, minari_store, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(flags)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and message in error
    assert not list(dataset_ids(minari_store)) if minari_store.exists() else True
