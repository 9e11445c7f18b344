"""Several seeds in one process (--seeds): members independent of each other, each close to the
single run of its seed, resumable, logged per seed, and bad input refused."""

import json

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import evaluate
import train
from agents import BACKBONES
from agents.dropout import Dropout, supplied_noise
from infra.checkpoint_files import load_checkpoint
from tests.helpers.training_runs import TINY, error_of, run

FAST = ["--eval-episodes", "0", "--warmup-steps", "2"]


def member_weights(run_dir, index: int) -> dict[str, torch.Tensor]:
    payload = load_checkpoint(run_dir / "checkpoint.pt")
    return {name: t[index] for name, t in payload["model"]["state_dict"].items()}


@pytest.mark.parametrize("batching", ["vmap", "loop"])
@pytest.mark.parametrize("backbone", list(BACKBONES))
def test_a_member_does_not_depend_on_the_others(tmp_path, tiny_dataset, backbone, batching):
    flags = ["--steps", "4", "--member-batching", batching, *FAST]
    first = run(tmp_path / "a", tiny_dataset, "--seeds", "0", "1", *flags, backbone=backbone)
    second = run(tmp_path / "b", tiny_dataset, "--seeds", "0", "2", *flags, backbone=backbone)
    zero_a, zero_b = member_weights(first, 0), member_weights(second, 0)
    assert all(torch.equal(zero_a[name], zero_b[name]) for name in zero_a)
    one, two = member_weights(first, 1), member_weights(second, 1)
    assert not all(torch.equal(one[name], two[name]) for name in one)  # seeds 1 and 2 differ


@pytest.mark.parametrize("batching", ["vmap", "loop"])
def test_without_dropout_a_member_follows_the_single_run_of_its_seed(
    tmp_path, tiny_dataset, batching
):
    flags = ["--steps", "5", "--backbone.dropout", "0", *FAST]
    members = run(
        tmp_path / "members",
        tiny_dataset,
        "--seeds",
        "3",
        "7",
        "--member-batching",
        batching,
        *flags,
    )
    single = run(tmp_path / "single", tiny_dataset, "--seed", "7", *flags)
    expected = load_checkpoint(single / "checkpoint.pt")["model"]["state_dict"]
    # the same computation: equal up to float rounding (batched matmuls, per-member clipping)
    for name, tensor in member_weights(members, 1).items():
        torch.testing.assert_close(tensor, expected[name], rtol=1e-4, atol=1e-6)


def test_members_resume_exactly_and_log_per_seed(tmp_path, tiny_dataset, short_episodes):
    flags = ["--seeds", "0", "1", "--eval-episodes", "1", "--eval-every", "2"]
    flags += ["--target-returns", "500", "--warmup-steps", "2"]
    whole = run(tmp_path / "whole", tiny_dataset, "--steps", "4", *flags)
    stopped = run(tmp_path / "stopped", tiny_dataset, "--steps", "2", *flags)
    assert train.main(["--resume", str(stopped), "--steps", "4"]) == 0
    for index in (0, 1):
        expected, resumed = member_weights(whole, index), member_weights(stopped, index)
        assert all(torch.equal(expected[name], resumed[name]) for name in expected)

    events = EventAccumulator(str(whole))
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    for tag in ("losses/action_mse", "eval/normalized_score_500"):
        assert {tag, f"{tag}/seed_0", f"{tag}/seed_1"} <= scalars
    mean = events.Scalars("losses/action_mse")[-1].value
    per_seed = [events.Scalars(f"losses/action_mse/seed_{s}")[-1].value for s in (0, 1)]
    assert mean == pytest.approx(sum(per_seed) / 2)
    assert load_checkpoint(whole / "checkpoint.pt")["members"] == {"seeds": [0, 1]}


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--seeds", "1", "1"], "--seeds must differ"),
        (["--seeds"], "--seeds needs at least one seed"),
        (["--seeds", "1", "2", "--seed", "3"], "--seed and --seeds exclude each other"),
    ],
)
def test_bad_seeds_are_refused_before_anything_is_written(
    tmp_path, tiny_dataset, capsys, flags, expected
):
    out_dir = tmp_path / "run"
    argv = [*TINY, "--dataset", tiny_dataset, "--out-dir", str(out_dir), *flags]
    assert expected in error_of(capsys, argv)
    assert not out_dir.exists()


def test_supplied_noise_drops_where_it_says_and_counts_calls():
    dropout = Dropout(0.25).train()
    x = torch.ones(2, 3)
    uniform = torch.tensor([[0.1, 0.3, 0.9, 0.2, 0.25, 0.5], [0.0] * 6])
    with supplied_noise(uniform):
        first, second = dropout(x), dropout(x)
    expected = torch.tensor([[0.0, 1.0, 1.0], [0.0, 1.0, 1.0]]) / 0.75
    torch.testing.assert_close(first, expected)
    assert not second.any()
    with supplied_noise(None) as rows:
        assert torch.equal(dropout(x), x / 0.75) and torch.equal(dropout(x), x / 0.75)
    assert rows.taken == 2
    with supplied_noise(uniform[:1]), pytest.raises(RuntimeError, match="more than the 1"):
        dropout(x), dropout(x)


def test_evaluate_lists_every_member_and_pools_them_as_seeds(
    tmp_path, tiny_dataset, short_episodes
):
    members = run(tmp_path / "members", tiny_dataset, "--seeds", "4", "9", "--steps", "2", *FAST)
    report_path = tmp_path / "eval.json"
    evaluate.main(
        [str(members), "--episodes", "2", "--target-returns", "500", "--json", str(report_path)]
    )
    report = json.loads(report_path.read_text())
    assert [run["training_seed"] for run in report["runs"]] == [4, 9]
    assert all(len(run["results"][0]["returns"]) == 2 for run in report["runs"])
    assert len(report["groups"]) == 1
    summary = report["groups"][0]["targets"][0]["summary"]
    member_means = [run["results"][0]["summary"]["mean"] for run in report["runs"]]
    assert summary["mean"] == pytest.approx(sum(member_means) / 2)
    assert summary["ci_low"] is not None and summary["count"] == 2
