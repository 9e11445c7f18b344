"""The published baselines a score is reported beside: which D4RL dataset a dataset counts as,
the numbers per method, and those numbers against the shared reference table."""

import pytest

from scoring.published_scores import (
    PUBLISHED_SCORES,
    d4rl_counterpart,
    is_replica,
    published_scores,
)
from tests.helpers.paths import SHARED

REFERENCE = SHARED / "reference" / "published_scores.md"


@pytest.mark.parametrize(
    "dataset_id, counterpart",
    [
        ("replica/hopper/medium-v0", "hopper-medium-v2"),
        ("mujoco/hopper/medium-v0", "hopper-medium-v2"),
        ("replica/walker2d/medium-replay-v0", "walker2d-medium-replay-v2"),
        ("replica/halfcheetah/medium-expert-v1", "halfcheetah-medium-expert-v2"),
        ("mujoco/hopper/expert-v0", "hopper-expert-v2"),
        ("replica/hopper/mini-v0", None),
        ("mujoco/hopper/simple-v0", None),
        ("mujoco/ant/medium-v0", None),
        ("D4RL/door/human-v2", None),
        ("d4rl/hopper/medium-v2", "hopper-medium-v2"),
        ("d4rl/walker2d/medium-replay-v2", "walker2d-medium-replay-v2"),
        ("d4rl/halfcheetah/expert-v2", "halfcheetah-expert-v2"),
        ("d4rl/hopper/medium-v0", None),
        ("d4rl/ant/medium-v2", None),
    ],
)
def test_d4rl_counterpart(dataset_id, counterpart):
    assert d4rl_counterpart(dataset_id) == counterpart


def test_replica_is_the_own_namespace():
    assert is_replica("replica/hopper/medium-v0")
    assert not is_replica("mujoco/hopper/medium-v0")
    assert not is_replica("d4rl/hopper/medium-v2")


def test_baseline_lookup():
    labels = [score.method for score in published_scores("replica/hopper/medium-v0")]
    assert labels == [
        "DT (CORL, last)",
        "DT (CORL, best)",
        "DT (paper)",
        "DMamba (paper, best)",
        "minLSTM (paper)",
        "minGRU (paper)",
    ]
    walker = {score.method: score for score in published_scores("mujoco/walker2d/medium-v0")}
    assert (walker["DT (CORL, best)"].mean, walker["DT (CORL, best)"].std) == (74.70, 0.56)
    assert all(score.source for scores in PUBLISHED_SCORES.values() for score in scores)
    assert published_scores("replica/hopper/mini-v0") == ()
    assert published_scores("mujoco/hopper/expert-v0") == ()


@pytest.mark.skipif(not REFERENCE.exists(), reason="shared/reference is not beside the repository")
def test_every_published_number_appears_in_the_reference_table_row():
    text = REFERENCE.read_text()
    for name, scores in PUBLISHED_SCORES.items():
        by_method = {score.method: score for score in scores}
        last, best = by_method["DT (CORL, last)"], by_method["DT (CORL, best)"]
        assert (
            f"| {name} | {last.mean:.2f} ± {last.std:.2f} | {best.mean:.2f} ± {best.std:.2f} |"
            in text
        )
        paper = by_method["DT (paper)"]
        assert f"| {name.removesuffix('-v2')} | {paper.mean:.1f} ± {paper.std:.1f} |" in text
    decision_mamba = [
        next(s for s in PUBLISHED_SCORES[f"{env}-{level}-v2"] if s.method.startswith("DMamba"))
        for level in ("medium", "medium-replay", "medium-expert")
        for env in ("halfcheetah", "hopper", "walker2d")
    ]  # in the reference table's column order
    cells = " | ".join(f"{s.mean:.1f}±{s.std:.1f}" for s in decision_mamba)
    assert f"| Decision Mamba (Ota 2024, arXiv 2403.19925) | {cells} |" in text
    min_rnn = [s for s in PUBLISHED_SCORES["hopper-medium-v2"] if "min" in s.method]
    assert [f"{s.method.split()[0]} {s.mean}" for s in min_rnn] == ["minLSTM 85.0", "minGRU 79.4"]
    assert "minLSTM 85.0, minGRU 79.4" in text
