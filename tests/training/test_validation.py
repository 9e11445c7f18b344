"""Held-out validation: which episodes are held out (disjoint from training, the same for every
member and on --resume), val/action_loss in TensorBoard and the run's summary, its fall on a
learnable dataset, evaluate.py --no-env, and bad input in one line."""

import json

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import evaluate
import train
from datasets import load_dataset
from datasets.collect import Episode
from datasets.minari_writing import write_dataset
from envs import make_env
from infra.checkpoint_files import load_checkpoint
from training import Args, args_from_dict, args_to_dict
from training.validation import SUMMARY_NAME, Validation, held_out_episodes

TINY = ["--backbone.d-model", "16", "--backbone.n-layers", "1", "--batch-size", "8"]
TINY += ["--context-length", "4", "--warmup-steps", "2", "--eval-episodes", "0"]


@pytest.fixture(scope="module")
def learnable_store(tmp_path_factory) -> str:
    """`test/hopper/linear-v0`: 60 short Hopper episodes acting a = tanh(W s), a function of
    the observation a small model can learn."""
    store = tmp_path_factory.mktemp("minari")
    env = make_env("Hopper-v5")
    weights = np.random.default_rng(0).normal(0, 0.5, (3, 11))
    episodes = []
    for seed in range(60):
        observations, _ = env.reset(seed=seed)
        observations, actions, rewards, ended = [observations], [], [], False
        while not ended and len(actions) < 40:
            action = np.tanh(weights @ observations[-1]).astype(np.float32)
            observation, reward, terminated, truncated, _ = env.step(action)
            ended = terminated or truncated
            observations.append(observation), actions.append(action), rewards.append(reward)
        steps = len(actions)
        episodes.append(
            Episode(
                np.array(observations),
                np.array(actions),
                np.array(rewards),
                np.arange(steps) == steps - 1 if ended else np.zeros(steps, bool),
                np.zeros(steps, bool) if ended else np.arange(steps) == steps - 1,
            )
        )
    write_dataset(
        store,
        "test/hopper/linear-v0",
        "Hopper-v5",
        episodes,
        algorithm_name="tanh",
        author="tests",
        description="a = tanh(W s)",
    )
    return str(store)


@pytest.fixture
def learnable(learnable_store, monkeypatch) -> str:
    monkeypatch.setenv("MINARI_DATASETS_PATH", learnable_store)
    return "test/hopper/linear-v0"


def scalars(run_dir, tag) -> list[tuple[int, float]]:
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return [(event.step, event.value) for event in events.Scalars(tag)]


def test_held_out_episodes_follow_from_fraction_and_seed_alone():
    chosen = held_out_episodes(100, 0.29, seed=3)
    assert len(chosen) == 29 and len(set(chosen.tolist())) == 29
    np.testing.assert_array_equal(chosen, held_out_episodes(100, 0.29, seed=3))
    assert not np.array_equal(chosen, held_out_episodes(100, 0.29, seed=4))
    assert len(held_out_episodes(49, 0.02, seed=0)) == 0


def test_training_never_sees_a_held_out_step(learnable):
    dataset = load_dataset(learnable)
    args = Args(dataset=learnable, val_fraction=0.2, context_length=4)
    validation = Validation(args, dataset, "cpu")
    assert len(validation.held_out) == 12
    kept = np.setdiff1d(np.arange(dataset.num_episodes), validation.held_out)
    assert validation.training_set.num_episodes == len(kept)
    rows = {observation.tobytes() for observation in validation.training_set.observations}
    for episode in validation.held_out:
        start, length = dataset.episode_starts[episode], dataset.episode_lengths[episode]
        held = dataset.observations[start : start + length]
        assert not rows & {observation.tobytes() for observation in held}
    # Every held-out step is predicted once: the windows tile the held-out episodes.
    steps = sum(int(batch.mask.sum()) for batch in validation.batches)
    assert steps == dataset.episode_lengths[validation.held_out].sum()


def test_val_loss_is_logged_per_member_the_split_shared_and_kept_on_resume(tmp_path, learnable):
    run_dir = tmp_path / "members"
    base = ["--dataset", learnable, *TINY, "--val-fraction", "0.1", "--val-every", "3"]
    assert train.main([*base, "--seeds", "0", "1", "--steps", "3", "--out-dir", str(run_dir)]) == 0
    first = json.loads((run_dir / SUMMARY_NAME).read_text())
    assert set(first["action_loss"]) == {
        "val/action_loss",
        "val/action_loss/seed_0",
        "val/action_loss/seed_1",
    }
    assert train.main(["--resume", str(run_dir), "--steps", "6"]) == 0
    resumed = json.loads((run_dir / SUMMARY_NAME).read_text())
    assert resumed["held_out_episodes"] == first["held_out_episodes"]
    assert resumed["step"] == 6
    assert sorted(step for step, _ in scalars(run_dir, "val/action_loss/seed_1")) == [3, 6]

    single = tmp_path / "single"
    assert train.main([*base, "--seed", "7", "--steps", "3", "--out-dir", str(single)]) == 0
    alone = json.loads((single / SUMMARY_NAME).read_text())
    assert alone["held_out_episodes"] == first["held_out_episodes"]  # not the training seed's


def test_val_loss_falls_as_a_tiny_model_learns_and_evaluate_reports_it_without_an_env(
    tmp_path, learnable, capsys, monkeypatch
):
    run_dir = tmp_path / "run"
    flags = ["--learning-rate", "3e-3", "--steps", "80", "--val-every", "10", "--keep-best-val"]
    assert train.main(["--dataset", learnable, *TINY, *flags, "--out-dir", str(run_dir)]) == 0
    losses = [value for _, value in scalars(run_dir, "val/action_loss")]
    assert len(losses) == 8
    assert losses[-1] < 0.5 * losses[0]
    summary = json.loads((run_dir / SUMMARY_NAME).read_text())
    assert summary["best"]["action_loss"] == pytest.approx(min(losses))
    assert (run_dir / "checkpoint_best_val.pt").is_file()

    import envs.evaluation

    def no_env(*args, **kwargs):
        raise AssertionError("--no-env made an environment")

    monkeypatch.setattr(envs.evaluation, "make_vector_env", no_env)
    capsys.readouterr()
    evaluate.main([str(run_dir), "--no-env", "--json", str(tmp_path / "val.json")])
    (entry,) = json.loads((tmp_path / "val.json").read_text())["held_out"]
    assert entry["val_action_loss"] == pytest.approx(losses[-1], rel=1e-5)
    assert "held-out action loss" in capsys.readouterr().out


@pytest.mark.parametrize("fraction", ["-0.1", "0.6"])
def test_a_fraction_outside_zero_to_a_half_is_refused_in_one_line(
    tmp_path, learnable, capsys, fraction
):
    capsys.readouterr()
    argv = ["--dataset", learnable, "--out-dir", str(tmp_path / "run"), "--val-fraction", fraction]
    assert train.main(argv) == 2
    message = capsys.readouterr().err.strip()
    assert message == f"error: --val-fraction must be in [0, 0.5], got {float(fraction)}"
    assert not (tmp_path / "run").exists()


def test_a_dataset_too_small_to_hold_one_episode_out_trains_after_one_line(
    tmp_path, tiny_dataset, capsys
):
    run_dir = tmp_path / "run"
    capsys.readouterr()
    assert (
        train.main(
            [
                "--dataset",
                tiny_dataset,
                *TINY,
                "--steps",
                "2",
                "--out-dir",
                str(run_dir),
                "--val-fraction",
                "0.001",
            ]
        )
        == 0
    )
    notes = [line for line in capsys.readouterr().err.splitlines() if "validation off" in line]
    assert len(notes) == 1 and "too few to hold out 0.001" in notes[0]
    assert (run_dir / "checkpoint.pt").is_file() and not (run_dir / SUMMARY_NAME).exists()


def test_validating_changes_nothing_in_training(tmp_path, learnable):
    """The same weights whether the held-out loss was taken every step or never (dropout on:
    validation draws no random numbers), and after a resume in the middle."""
    base = ["--dataset", learnable, *TINY, "--val-fraction", "0.1", "--steps", "4"]
    often, rarely, resumed = tmp_path / "often", tmp_path / "rarely", tmp_path / "resumed"
    assert train.main([*base, "--val-every", "1", "--out-dir", str(often)]) == 0
    assert train.main([*base, "--val-every", "1000", "--out-dir", str(rarely)]) == 0
    assert train.main([*base[:-1], "2", "--val-every", "1", "--out-dir", str(resumed)]) == 0
    assert train.main(["--resume", str(resumed), "--steps", "4"]) == 0
    weights = [
        load_checkpoint(run / "checkpoint.pt")["model"]["state_dict"]
        for run in (often, rarely, resumed)
    ]
    for name, tensor in weights[0].items():
        assert torch.equal(tensor, weights[1][name]) and torch.equal(tensor, weights[2][name])


def test_a_run_from_before_validation_resumes_without_holding_episodes_out():
    saved = args_to_dict(Args())
    del saved["val_fraction"], saved["val_seed"]  # config.json of an older run
    assert args_from_dict(saved).val_fraction == 0.0
    assert Args().val_fraction == 0.02
