"""D4RL score normalisation: 100 * (return - random) / (expert - random).

The constants are D4RL's (`d4rl/infos.py`), measured on the v2/v3 environments of old Gym; on
Gymnasium v5 they are an approximation (Walker2d-v5 changed foot friction, for one).
"""

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
