"""Returns to condition a decision model on when evaluating it."""

from envs.make import D4RL_ENV_IDS, ENV_IDS, env_id_for, is_memory_env

# The targets of CORL's Decision Transformer configs (after the original paper's): a high one,
# and half of it. The same for the v4 environments of D4RL's data and for v5.
_TARGETS = {
    "hopper": (3600.0, 1800.0),
    "halfcheetah": (12000.0, 6000.0),
    "walker2d": (5000.0, 2500.0),
}
DEFAULT_TARGET_RETURNS = {
    ids[name]: targets for ids in (D4RL_ENV_IDS, ENV_IDS) for name, targets in _TARGETS.items()
}


def default_target_returns(env_id: str, expert_return: float | None = None) -> tuple[float, ...]:
    """CORL's target returns for `env_id` (a Gymnasium id or a short name like 'hopper'); for a
    memory task, the expert's return (its dataset's ref_max_score, which the delay sets)."""
    if is_memory_env(env_id):
        if expert_return is None:
            raise ValueError(f"{env_id} has no default target return without its expert's")
        return (float(expert_return),)
    return DEFAULT_TARGET_RETURNS[env_id_for(env_id)]
