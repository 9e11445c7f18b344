"""minLSTM (Feng et al. 2024, "Were RNNs All We Needed?", Sec. 3.2).

    f_t = sigmoid(Linear_f(x_t)),  i_t = sigmoid(Linear_i(x_t)),  h~_t = g(Linear_h(x_t))
    f'_t = f_t / (f_t + i_t),  i'_t = i_t / (f_t + i_t)          normalised gates (Sec. 3.2.3)
    h_t = f'_t * h_{t-1} + i'_t * h~_t

Since f'_t = sigmoid(log f_t - log i_t) and i'_t = 1 - f'_t, this is minGRU's recurrence with
the gate logit k_t = log i_t - log f_t (kernels/linear_scan/gates.py); only that logit differs
(Appendix B computes the same difference in log space).
"""

from dataclasses import dataclass

from .min_gru import MinGRUConfig, MinimalRNN
from .stack import Mixer


class MinLSTM(MinimalRNN):
    cell = "lstm"  # project_in: forget logit, input logit, candidate u


@dataclass(frozen=True)
class MinLSTMConfig(MinGRUConfig):
    def make_mixer(self) -> Mixer:
        return MinLSTM(self.d_model, self.expansion_factor, self.scan)
