"""The model a run trains, built for its dataset, and the loss it is trained on."""

import torch

from agents import DecisionModel, DecisionModelConfig
from datasets import OfflineDataset
from training.config import Args


def build_model(args: Args, dataset: OfflineDataset) -> DecisionModel:
    config = DecisionModelConfig(
        observation_dim=dataset.observation_dim,
        action_dim=dataset.action_dim,
        layout=args.layout,
        context_length=args.context_length,
        max_timestep=max(1000, int(dataset.timesteps.max()) + 1),
        return_scale=args.return_scale,
    )
    # A backbone with a finite span (the transformer's window) covers the training window.
    backbone = args.backbone.fitted_to_context(args.context_length * config.tokens_per_step)
    model = DecisionModel(config, backbone.build())
    model.set_observation_statistics(dataset.observation_mean, dataset.observation_std)
    return model


def masked_action_loss(model: DecisionModel, batch) -> torch.Tensor:
    """Mean squared error of the predicted actions over the real (unpadded) steps."""
    predicted = model(batch.returns_to_go, batch.observations, batch.actions, batch.timesteps)
    squared_error = (predicted.float() - batch.actions).pow(2).mean(dim=-1)  # (B, K)
    return (squared_error * batch.mask).sum() / batch.mask.sum()
