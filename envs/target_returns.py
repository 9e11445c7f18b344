"""Returns to condition a decision model on when evaluating it."""

from envs.make import env_id_for

# The targets of CORL's Decision Transformer configs (after the original paper's): a high one,
# and half of it.
DEFAULT_TARGET_RETURNS = {
    "Hopper-v5": (3600.0, 1800.0),
    "HalfCheetah-v5": (12000.0, 6000.0),
    "Walker2d-v5": (5000.0, 2500.0),
}


def default_target_returns(env_id: str) -> tuple[float, ...]:
    """CORL's target returns for `env_id` (a Gymnasium id or a short name like 'hopper')."""
    return DEFAULT_TARGET_RETURNS[env_id_for(env_id)]
