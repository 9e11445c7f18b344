"""D4RL's names for its locomotion datasets, and the ids they get here once imported.

hopper_medium_replay-v2.hdf5 (D4RL's download)  ->  d4rl/hopper/medium-replay-v2 (Minari id)
"""

from envs.make import D4RL_ENV_IDS

D4RL_ENVS = tuple(D4RL_ENV_IDS)  # hopper, halfcheetah, walker2d
D4RL_LEVELS = ("random", "medium", "medium-replay", "medium-expert", "expert")
D4RL_NAMESPACE = "d4rl"


def d4rl_dataset_id(env: str, level: str) -> str:
    return f"{D4RL_NAMESPACE}/{env}/{level}-v2"


def d4rl_file_name(env: str, level: str) -> str:
    """The file name D4RL downloads the dataset as, e.g. halfcheetah_medium_replay-v2.hdf5."""
    return f"{env}_{level.replace('-', '_')}-v2.hdf5"


def d4rl_env_level(dataset_id: str) -> tuple[str, str] | None:
    """'d4rl/hopper/medium-v2' -> ('hopper', 'medium'); None for any other id."""
    parts = dataset_id.split("/")
    if len(parts) != 3 or parts[0] != D4RL_NAMESPACE or not parts[2].endswith("-v2"):
        return None
    env, level = parts[1], parts[2].removesuffix("-v2")
    return (env, level) if env in D4RL_ENVS and level in D4RL_LEVELS else None
