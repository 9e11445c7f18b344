"""D4RL score normalisation: 100 * (return - random) / (expert - random).

The constants are D4RL's (`d4rl/infos.py`), measured on the v2/v3 environments of old Gym; on
Gymnasium v5 they are an approximation (Walker2d-v5 changed foot friction, for one).
"""

from dataclasses import dataclass

import numpy as np

# Gymnasium id -> (random-policy return, expert-policy return), from D4RL.
D4RL_REFERENCE_RETURNS = {
    "HalfCheetah-v5": (-280.178953, 12135.0),
    "Hopper-v5": (-20.272305, 3234.3),
    "Walker2d-v5": (1.629008, 4592.3),
}


def normalized_score(returns, ref_min: float, ref_max: float) -> np.ndarray:
    """D4RL-normalised score (0 = random policy, 100 = expert) of one or more returns."""
    return 100.0 * (np.asarray(returns, dtype=np.float64) - ref_min) / (ref_max - ref_min)


@dataclass(frozen=True)
class ReferenceReturns:
    """The random- and expert-policy returns a score is normalised with, and their origin."""

    ref_min: float
    ref_max: float
    source: str
    """"dataset" (the dataset's own reference scores) or "d4rl" (D4RL's constants)."""


def reference_returns(
    env_id: str, dataset_ref_min: float | None = None, dataset_ref_max: float | None = None
) -> ReferenceReturns:
    """The dataset's own reference returns when it has both, else D4RL's for `env_id`."""
    if dataset_ref_min is not None and dataset_ref_max is not None:
        return ReferenceReturns(float(dataset_ref_min), float(dataset_ref_max), "dataset")
    if env_id not in D4RL_REFERENCE_RETURNS:
        raise ValueError(
            f"no reference returns for {env_id!r}: the dataset has none and D4RL covers only "
            f"{sorted(D4RL_REFERENCE_RETURNS)}"
        )
    return ReferenceReturns(*D4RL_REFERENCE_RETURNS[env_id], "d4rl")


def normalization_note(source: str, env_id: str) -> str:
    """What a score normalised with `source`'s reference returns on `env_id` can be compared
    with, in a sentence for reports."""
    if source == "d4rl":
        return (
            f"D4RL's reference returns were measured on old Gym v2/v3 environments: on {env_id}"
            " the normalised scores are an approximation."
        )
    return (
        "Normalised with the dataset's own reference returns; the published scores use D4RL's"
        " (measured on old Gym v2/v3 environments)."
    )
