"""One model trained with one seed: what the training loop steps when --seeds is not given."""

from functools import partial

import torch

from agents import DecisionModel
from agents.checkpoint import model_payload
from datasets import OfflineDataset, WindowSampler
from training.checkpointing import restore_optimization, restore_weights, training_payload
from training.config import Args
from training.objective import build_model, masked_action_loss
from training.optimization import make_scheduler, model_optimizer, optimization_step


class SingleModel:
    """The model, its optimiser and scheduler, and the CPU generator its windows come from."""

    def __init__(self, args: Args, dataset: OfflineDataset, sampler: WindowSampler, device):
        torch.manual_seed(args.seed)  # the model's initial weights, then dropout
        self.model = build_model(args, dataset).to(device)
        self.args, self.sampler = args, sampler
        self.seeds = (args.seed,)
        self.generator = torch.Generator().manual_seed(args.seed)
        self.optimizer = model_optimizer(self.model, args, device)
        self.scheduler = make_scheduler(self.optimizer, args)
        # On CUDA as CUDA graphs: a DT-size step is hundreds of small kernels, launch-bound.
        mode = "reduce-overhead" if torch.device(device).type == "cuda" else None
        self.trained_model = torch.compile(self.model, mode=mode) if args.compile else self.model
        parameters = list(self.model.parameters())
        self._clip = partial(torch.nn.utils.clip_grad_norm_, parameters, args.grad_clip)

    def train(self) -> None:
        self.model.train()

    def loss(self, step: int) -> torch.Tensor:
        """The loss of one batch of windows: a scalar tensor."""
        batch = self.sampler.sample(self.args.batch_size, self.generator)
        return masked_action_loss(self.trained_model, batch)

    def optimize(self, loss: torch.Tensor) -> None:
        optimization_step(self.optimizer, self.scheduler, loss, self._clip)

    def loss_scalars(self, loss: torch.Tensor) -> dict[str, float]:
        return {"losses/action_mse": loss.item()}

    def models(self) -> dict[int | None, DecisionModel]:
        """The model(s) to evaluate, by training seed (None: the run has one model)."""
        return {None: self.model}

    def payload(self, step: int, **entries) -> dict:
        model = model_payload(self.model)
        generators = [self.generator]
        return training_payload(model, self.optimizer, self.scheduler, generators, step, **entries)

    def restore(self, checkpoint: dict, where: str) -> int:
        restore_weights(self.model.state_dict(), checkpoint["model"]["state_dict"], where)
        generators = [self.generator]
        return restore_optimization(checkpoint, where, self.optimizer, self.scheduler, generators)
