"""D4RL score normalisation: 100 * (return - random) / (expert - random).

The constants are D4RL's (`d4rl/infos.py`), measured on the v3 environments of old Gym. The v4
environments are v3's model and rewards on the new MuJoCo bindings, so for them (and D4RL's
own data) the constants match; on Gymnasium v5 they are an approximation (Walker2d-v5 changed
foot friction, for one).
"""

import math
from dataclasses import dataclass

import numpy as np

from envs.make import D4RL_ENV_IDS, ENV_IDS

# Short name -> (random-policy return, expert-policy return), from D4RL.
_D4RL_CONSTANTS = {
    "halfcheetah": (-280.178953, 12135.0),
    "hopper": (-20.272305, 3234.3),
    "walker2d": (1.629008, 4592.3),
}
# Gymnasium id (v4 and v5) -> D4RL's constants of that env.
D4RL_REFERENCE_RETURNS = {
    ids[name]: constants
    for ids in (D4RL_ENV_IDS, ENV_IDS)
    for name, constants in _D4RL_CONSTANTS.items()
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
    """"d4rl" (D4RL's constants: the dataset has none of its own, or its own are D4RL's) or
    "dataset" (the dataset's own, other than D4RL's)."""


def reference_returns(
    env_id: str, dataset_ref_min: float | None = None, dataset_ref_max: float | None = None
) -> ReferenceReturns:
    """The dataset's own reference returns when it has both, else D4RL's for `env_id`."""
    d4rl = D4RL_REFERENCE_RETURNS.get(env_id)
    if dataset_ref_min is not None and dataset_ref_max is not None:
        own = (float(dataset_ref_min), float(dataset_ref_max))
        same = d4rl is not None and all(map(math.isclose, own, d4rl))
        return ReferenceReturns(*own, "d4rl" if same else "dataset")
    if d4rl is None:
        raise ValueError(
            f"no reference returns for {env_id!r}: the dataset has none and D4RL covers only "
            f"{sorted(D4RL_REFERENCE_RETURNS)}"
        )
    return ReferenceReturns(*d4rl, "d4rl")


def normalization_note(source: str, env_id: str) -> str:
    """What a score normalised with `source`'s reference returns on `env_id` can be compared
    with, in a sentence for reports."""
    if source == "dataset":
        return (
            "Normalised with the dataset's own reference returns; the published scores use "
            "D4RL's (measured on old Gym v3 environments), so they compare only loosely."
        )
    if env_id in D4RL_ENV_IDS.values():
        return (
            f"Normalised with D4RL's reference returns, measured on the v3 environment whose model "
            f"and rewards {env_id} keeps (on newer MuJoCo): like for like with published D4RL "
            "scores."
        )
    return (
        "Normalised with D4RL's reference returns (also where the dataset has none, as Minari's "
        f"mujoco/*-v0 datasets), measured on old Gym v3 environments: on {env_id} the normalised "
        "scores are an approximation."
    )
