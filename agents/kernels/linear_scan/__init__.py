"""The linear recurrence h_t = a_t * h_{t-1} + b_t (minGRU, minLSTM, Aaren): see interface.py."""

from .interface import (
    PROJECTIONS,
    Cell,
    g,
    gate_logit_and_candidate,
    gated_scan,
    linear_scan,
    refusal,
    resolve,
)

__all__ = ["PROJECTIONS", "Cell", "g", "gate_logit_and_candidate", "gated_scan", "linear_scan"]
__all__ += ["refusal", "resolve"]
