"""The decision model (Chen et al. 2021, "Decision Transformer"), with any registered backbone.

It reads (return-to-go, observation, action) histories and predicts the next action. Two token
layouts:
- interleaved: R_1, s_1, a_1, R_2, s_2, a_2, ... (as Decision Transformer); a_t is predicted
  from the output at s_t's token.
- stacked: one token per step built from R_t, s_t and a_{t-1}: sequences 3x shorter. Before a
  window's first step, a_{t-1} is taken as zero, in training and in rollouts alike.
Raw observations and returns go in: the model normalises them with statistics it holds as
buffers, so a checkpoint carries everything needed to act.
"""

import dataclasses
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from infra.errors import ConfigError
from infra.field_types import check_field_types

from .dropout import Dropout
from .registry import config_from_spec, config_to_spec
from .stack import Backbone, State, reset_rows

Layout = Literal["interleaved", "stacked"]


@dataclass(frozen=True)
class DecisionModelConfig:
    observation_dim: int
    action_dim: int
    layout: Layout = "interleaved"
    context_length: int = 20
    """K: steps per training window, and the history a windowed rollout re-reads."""
    max_timestep: int = 1000
    """Timesteps 0 .. max_timestep - 1 have an embedding (1000 = the MuJoCo time limit)."""
    return_scale: float = 1e-3
    """Returns-to-go are multiplied by this before embedding."""

    @property
    def tokens_per_step(self) -> int:
        return 3 if self.layout == "interleaved" else 1

    def __post_init__(self):
        check_field_types(self, name_of=lambda name: f"DecisionModelConfig.{name}")
        for name in ("observation_dim", "action_dim", "context_length", "max_timestep"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")


def _init_weights(module: nn.Module) -> None:
    # GPT-2's initialisation, as nanoGPT and Decision Transformer; modules flagged `keep_init`
    # (Mamba's step-size projection) keep the initialisation their backbone gave them.
    if isinstance(module, (nn.Linear, nn.Embedding)) and not getattr(module, "keep_init", False):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)


class DecisionModel(nn.Module):
    def __init__(self, config: DecisionModelConfig, backbone: Backbone):
        super().__init__()
        self.config = config
        d_model = backbone.config.d_model
        self.embed_timestep = nn.Embedding(config.max_timestep, d_model)
        self.embed_return = nn.Linear(1, d_model)
        self.embed_observation = nn.Linear(config.observation_dim, d_model)
        self.embed_action = nn.Linear(config.action_dim, d_model)
        self.embed_norm = nn.LayerNorm(d_model)
        self.embed_dropout = Dropout(backbone.config.dropout)
        self.backbone = backbone
        self.action_head = nn.Sequential(nn.Linear(d_model, config.action_dim), nn.Tanh())
        self.register_buffer("observation_mean", torch.zeros(config.observation_dim))
        self.register_buffer("observation_std", torch.ones(config.observation_dim))
        self.apply(_init_weights)

    def set_observation_statistics(self, mean, std) -> None:
        self.observation_mean.copy_(torch.as_tensor(mean))
        self.observation_std.copy_(torch.as_tensor(std))

    def spec(self) -> dict:
        """Plain-typed description that rebuilds this model (with `from_spec`)."""
        return {
            "decision_model": dataclasses.asdict(self.config),
            "backbone": config_to_spec(self.backbone.config),
        }

    @classmethod
    def from_spec(cls, spec: dict) -> "DecisionModel":
        backbone = config_from_spec(spec["backbone"]).build()
        return cls(DecisionModelConfig(**spec["decision_model"]), backbone)

    def _embed_return(self, returns_to_go: torch.Tensor) -> torch.Tensor:
        return self.embed_return((returns_to_go * self.config.return_scale).unsqueeze(-1))

    def _embed_observation(self, observations: torch.Tensor) -> torch.Tensor:
        return self.embed_observation((observations - self.observation_mean) / self.observation_std)

    def _token(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.embed_dropout(self.embed_norm(embedding))

    def forward(self, returns_to_go, observations, actions, timesteps) -> torch.Tensor:
        """(B, T), (B, T, obs), (B, T, act), (B, T) -> predicted actions (B, T, act).
        The prediction at t sees returns and observations up to t and actions before t."""
        B, T = returns_to_go.shape
        time = self.embed_timestep(timesteps)  # (B, T, D)
        returns, observed = self._embed_return(returns_to_go), self._embed_observation(observations)
        if self.config.layout == "interleaved":
            steps = torch.stack([returns, observed, self.embed_action(actions)], dim=2)
            tokens = self._token(steps + time.unsqueeze(2))  # (B, T, 3, D)
            outputs = self.backbone(tokens.reshape(B, 3 * T, -1))  # (B, 3T, D)
            outputs = outputs.view(B, T, 3, -1)[:, :, 1]  # at the observation tokens: (B, T, D)
        else:
            previous_actions = F.pad(actions[:, :-1], (0, 0, 1, 0))  # a_{t-1}: (B, T, act)
            embedded = returns + observed + self.embed_action(previous_actions) + time
            outputs = self.backbone(self._token(embedded))  # (B, T, D)
        return self.action_head(outputs)

    def initial_state(self, batch_size: int) -> State:
        """(backbone state, previous action (B, act)): what `act` carries between steps."""
        previous_action = self.observation_mean.new_zeros(batch_size, self.config.action_dim)
        return self.backbone.initial_state(batch_size), previous_action

    def reset_state(self, state: State, rows: torch.Tensor) -> State:
        """Restart the sequences in the batch rows where `rows` (B,) is True."""
        return reset_rows(state, self.initial_state(rows.shape[0]), rows)

    def act(self, state: State, returns_to_go, observations, timesteps):
        """One environment step for a batch: (B,), (B, obs), (B,) -> actions (B, act), state.
        Timesteps past the model's last embedding reuse that embedding. The chosen action is
        carried in the state as the next step's previous action.

        Interleaved, the backbone reads a_{t-1}, R_t, s_t in one `steps` call (its weights read
        once, not once per token): the state carries a_{t-1} unread until then, and at timestep
        0 that token does not exist, so its position leaves the state as it was."""
        backbone_state, previous_action = state
        returns, observed = self._embed_return(returns_to_go), self._embed_observation(observations)
        embedded_action = self.embed_action(previous_action)
        last = self.config.max_timestep - 1
        if self.config.layout == "interleaved":
            # The timestep of each token: a_{t-1} at t - 1, R_t and s_t at t.
            token_times = torch.stack([timesteps - 1, timesteps, timesteps], dim=1)  # (B, 3)
            time = self.embed_timestep(token_times.clamp(0, last))  # (B, 3, D)
            tokens = torch.stack([embedded_action, returns, observed], dim=1) + time  # (B, 3, D)
            no_previous_action = timesteps == 0
            outputs, backbone_state = self.backbone.steps(
                self._token(tokens), backbone_state, no_previous_action
            )
            output = outputs[:, 2]  # at the observation token: (B, D)
        else:
            time = self.embed_timestep(timesteps.clamp(max=last))  # (B, D)
            embedded = returns + observed + embedded_action + time
            output, backbone_state = self.backbone.step(self._token(embedded), backbone_state)
        action = self.action_head(output)
        return action, (backbone_state, action)
