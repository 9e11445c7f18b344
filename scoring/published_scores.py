"""Published D4RL-normalised scores of decision models, to report beside this toolkit's own.

All were obtained on the D4RL datasets (collected in old Gym's v3 environments), with D4RL's
reference returns: like for like with runs on those files (`d4rl/*`, in the v4 environments).
"""

from dataclasses import dataclass

from datasets.d4rl_names import D4RL_ENVS, D4RL_LEVELS, d4rl_env_level
from envs.target_returns import default_target_returns


@dataclass(frozen=True)
class PublishedScore:
    method: str
    """Short label for a table or chart legend."""
    mean: float
    std: float | None
    """Standard deviation over seeds; None where the source gives none."""
    source: str


def published_target(env_id: str) -> float:
    """The target return the published scores were reported at: the env's first (highest) of
    Decision Transformer's and CORL's targets (Hopper 3600, HalfCheetah 12000, Walker2d 5000)."""
    return default_target_returns(env_id)[0]


CORL_DT = (
    "CORL Decision Transformer (tinkoff-ai/CORL, algorithms/offline/dt.py, README table): "
    "mean ± std over 4 seeds, 100 evaluation episodes"
)
DT_PAPER = (
    "Chen et al. 2021, Decision Transformer: Reinforcement Learning via Sequence Modeling, "
    "Table 2 (as transcribed by third parties): 100 evaluation episodes"
)
MIN_RNN_PAPER = (
    "Feng et al. 2024, Were RNNs All We Needed?, D4RL decision-model experiment "
    "(hopper-medium is the one figure confirmed here)"
)
DECISION_MAMBA_PAPER = (
    "Ota 2024, Decision Mamba: Reinforcement Learning via Sequence Modeling with Selective State "
    "Spaces (arXiv 2403.19925), as collected in Cherepanov et al., RATE (arXiv 2306.09459), "
    "Table 3; best evaluation during training (its author, of hopper-medium: 83.5)"
)

# D4RL dataset -> (CORL last, CORL best, DT paper), each (mean, std).
_DECISION_TRANSFORMER = {
    "halfcheetah-medium-v2": ((42.20, 0.26), (42.73, 0.10), (42.6, 0.1)),
    "halfcheetah-medium-replay-v2": ((38.91, 0.50), (40.31, 0.28), (36.6, 0.8)),
    "halfcheetah-medium-expert-v2": ((91.55, 0.95), (93.40, 0.21), (86.8, 1.3)),
    "hopper-medium-v2": ((65.10, 1.61), (69.42, 3.64), (67.6, 1.0)),
    "hopper-medium-replay-v2": ((81.77, 6.87), (88.74, 3.02), (82.7, 7.0)),
    "hopper-medium-expert-v2": ((110.44, 0.33), (111.18, 0.21), (107.6, 1.8)),
    "walker2d-medium-v2": ((67.63, 2.54), (74.70, 0.56), (74.0, 1.4)),
    "walker2d-medium-replay-v2": ((59.86, 2.73), (68.22, 1.20), (66.6, 3.0)),
    "walker2d-medium-expert-v2": ((107.11, 0.96), (108.71, 0.34), (108.1, 0.2)),
}
# D4RL dataset -> Decision Mamba's (mean, std).
_DECISION_MAMBA = {
    "halfcheetah-medium-v2": (42.8, 0.1),
    "halfcheetah-medium-replay-v2": (39.6, 0.1),
    "halfcheetah-medium-expert-v2": (91.9, 0.6),
    "hopper-medium-v2": (83.5, 12.5),
    "hopper-medium-replay-v2": (82.6, 4.6),
    "hopper-medium-expert-v2": (111.1, 0.3),
    "walker2d-medium-v2": (78.2, 0.6),
    "walker2d-medium-replay-v2": (70.9, 4.3),
    "walker2d-medium-expert-v2": (108.3, 0.5),
}

PUBLISHED_SCORES: dict[str, tuple[PublishedScore, ...]] = {
    name: (
        PublishedScore("DT (CORL, last)", *last, source=CORL_DT),
        PublishedScore("DT (CORL, best)", *best, source=CORL_DT),
        PublishedScore("DT (paper)", *paper, source=DT_PAPER),
        PublishedScore("DMamba (paper, best)", *_DECISION_MAMBA[name], source=DECISION_MAMBA_PAPER),
    )
    for name, (last, best, paper) in _DECISION_TRANSFORMER.items()
}
PUBLISHED_SCORES["hopper-medium-v2"] += (
    PublishedScore("minLSTM (paper)", 85.0, None, source=MIN_RNN_PAPER),
    PublishedScore("minGRU (paper)", 79.4, None, source=MIN_RNN_PAPER),
)


def d4rl_counterpart(dataset_id: str) -> str | None:
    """'replica/hopper/medium-v0' or 'mujoco/hopper/medium-v0' -> 'hopper-medium-v2', and an
    imported D4RL file, 'd4rl/hopper/medium-v2', -> 'hopper-medium-v2' (its own data); None for
    a dataset D4RL has no counterpart of (e.g. 'replica/hopper/mini-v0')."""
    imported = d4rl_env_level(dataset_id)
    if imported is not None:
        return "{}-{}-v2".format(*imported)
    parts = dataset_id.split("/")
    if len(parts) != 3 or parts[0] not in ("replica", "mujoco"):
        return None
    _, env, versioned_level = parts
    level = versioned_level.rsplit("-v", 1)[0]
    if env not in D4RL_ENVS or level not in D4RL_LEVELS:
        return None
    return f"{env}-{level}-v2"


def is_replica(dataset_id: str) -> bool:
    """Whether the dataset is this toolkit's own rebuild (namespace 'replica/'), not D4RL's data."""
    return dataset_id.startswith("replica/")


def published_scores(dataset_id: str) -> tuple[PublishedScore, ...]:
    """The published scores on the D4RL counterpart of `dataset_id`; empty when there are none."""
    return PUBLISHED_SCORES.get(d4rl_counterpart(dataset_id), ())
