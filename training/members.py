"""Several seeds trained in one process as one batched computation (--seeds 0 1 2 ...).

The members' parameters are stacked along a new first dimension (torch.func.stack_module_state).
On CUDA the loss is vmapped over it, so N members cost about the kernel launches of one; on a
CPU, where arithmetic dominates, the members run one after another in one graph (faster there,
see uses_vmap), and still share one optimiser step. Each member
has its own randomness, derived from its seed alone: initial weights (torch.manual_seed(seed),
as a single run), windows (its own CPU generator) and dropout (uniform numbers from a generator
seeded with (seed, step), handed to the model's dropout layers: vmap would draw every member's
from one global stream). Gradients are clipped per member, and AdamW is elementwise, so member
k's training does not depend on the other members' values.
"""

import copy
import dataclasses
from functools import partial

import numpy as np
import torch
from torch.func import functional_call, stack_module_state, vmap

from agents import DecisionModel
from agents.checkpoint import load_models
from agents.dropout import supplied_noise
from datasets import OfflineDataset, WindowBatch, WindowSampler
from infra.checkpoint_files import CheckpointError
from training.checkpointing import restore_optimization, restore_weights, training_payload
from training.config import Args
from training.objective import build_model, masked_action_loss
from training.optimization import is_decayed, make_optimizer, make_scheduler, optimization_step


def clip_per_member(parameters: list[torch.Tensor], max_norm: float) -> torch.Tensor:
    """clip_grad_norm_'s rule for each member on its own: parameters (N, ...); returns (N,)."""
    squares = [p.grad.flatten(1).pow(2).sum(dim=1) for p in parameters]  # (N,) each
    norms = torch.stack(squares).sum(dim=0).sqrt()  # (N,)
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for p in parameters:
        p.grad.mul_(scale.view(-1, *([1] * (p.dim() - 1))))  # (N, 1, ..., 1)
    return norms


def uses_vmap(args: Args, device: torch.device) -> bool:
    """vmap where it pays: on CUDA a step is bound by kernel launches, which vmap shares among
    the members; on a CPU the arithmetic dominates and vmap's batched copies cost more than the
    launches they save (bench/members_step.py). nn.GRU/nn.LSTM cannot be vmapped."""
    if not args.backbone.vmappable:
        return False
    return args.member_batching == "vmap" or (
        args.member_batching == "auto" and device.type == "cuda"
    )


class Members:
    def __init__(self, args: Args, dataset: OfflineDataset, sampler: WindowSampler, device):
        self.args, self.sampler, self.device = args, sampler, torch.device(device)
        self.seeds = args.seeds
        models = []
        for seed in self.seeds:
            torch.manual_seed(seed)  # as a single run of this seed: the same initial weights
            models.append(build_model(args, dataset).to(device))
        self.spec = models[0].spec()
        self.template = copy.deepcopy(models[0]).to("meta").train()  # the architecture only
        self.params, self.buffers = stack_module_state(models)  # name -> (N, ...)
        self.generators = [torch.Generator().manual_seed(seed) for seed in self.seeds]
        decayed = {name for name, p in models[0].named_parameters() if is_decayed(p)}
        self.optimizer = make_optimizer(
            [p for name, p in self.params.items() if name in decayed],
            [p for name, p in self.params.items() if name not in decayed],
            args,
            self.device,
        )
        self.scheduler = make_scheduler(self.optimizer, args)
        self.dropout_calls = self._count_dropout_calls(models[0])
        member_losses = (
            vmap(self._member_loss, randomness="error")
            if uses_vmap(args, self.device)
            else self._member_losses_one_by_one
        )
        self._losses = torch.compile(member_losses) if args.compile else member_losses
        self._clip = partial(clip_per_member, list(self.params.values()), args.grad_clip)

    def _count_dropout_calls(self, model: DecisionModel) -> int:
        batch = self.sampler.sample(1, torch.Generator().manual_seed(0))
        with torch.no_grad(), supplied_noise(None) as rows:
            masked_action_loss(model.train(), batch)
        return rows.taken

    def _member_loss(self, params, buffers, fields: tuple, uniform) -> torch.Tensor:
        """One member's loss (vmapped over members): its parameters, its windows, its noise."""

        def member(*inputs):
            return functional_call(self.template, (params, buffers), inputs)

        with supplied_noise(uniform):
            return masked_action_loss(member, WindowBatch(*fields))

    def _member_losses_one_by_one(self, params, buffers, fields: tuple, uniform) -> torch.Tensor:
        """The vmapped loss's result by a loop over members (one autograd graph)."""
        losses = [
            self._member_loss(
                {name: p[index] for name, p in params.items()},
                {name: b[index] for name, b in buffers.items()},
                tuple(field[index] for field in fields),
                uniform[index],
            )
            for index in range(len(self.seeds))
        ]
        return torch.stack(losses)

    def _dropout_noise(self, step: int, elements: int) -> torch.Tensor:
        """(N, calls, elements) uniform numbers, member k's from a generator of (seed_k, step)."""
        noise = []
        for seed in self.seeds:
            key = int(np.random.SeedSequence([seed, step]).generate_state(1)[0])
            generator = torch.Generator(self.device).manual_seed(key)
            shape = (self.dropout_calls, elements)
            noise.append(torch.rand(shape, generator=generator, device=self.device))
        return torch.stack(noise)

    def train(self) -> None:
        self.template.train()

    def loss(self, step: int) -> torch.Tensor:
        """Each member's loss on its own batch of windows: (N,)."""
        batches = [self.sampler.sample(self.args.batch_size, g) for g in self.generators]
        fields = tuple(
            torch.stack([getattr(batch, field.name) for batch in batches])
            for field in dataclasses.fields(WindowBatch)
        )  # each (N, B, K, ...); vmap maps over tensors (and tuples), not over dataclasses
        tokens = batches[0].returns_to_go.numel() * self.template.config.tokens_per_step
        noise = self._dropout_noise(step, tokens * self.template.backbone.config.d_model)
        return self._losses(self.params, self.buffers, fields, noise)

    def optimize(self, losses: torch.Tensor) -> None:
        optimization_step(self.optimizer, self.scheduler, losses.sum(), self._clip)

    def loss_scalars(self, losses: torch.Tensor) -> dict[str, float]:
        values = losses.tolist()
        scalars = {
            f"losses/action_mse/seed_{s}": v for s, v in zip(self.seeds, values, strict=True)
        }
        return {"losses/action_mse": float(np.mean(values)), **scalars}

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Every member's weights, stacked: name -> (N, ...)."""
        return {name: t.detach() for name, t in (self.params | self.buffers).items()}

    def models(self) -> dict[int | None, DecisionModel]:
        """Each member as a model of its own (a copy), by training seed, as the run's checkpoint
        loads them."""
        return dict(load_models(self._stacked_models(), self.device))

    def payload(self, step: int, **entries) -> dict:
        stacked = self._stacked_models()
        return training_payload(
            stacked["model"],
            self.optimizer,
            self.scheduler,
            self.generators,
            step,
            members=stacked["members"],
            **entries,
        )

    def _stacked_models(self) -> dict:
        """The checkpoint entries describing the members: their spec, stacked weights, seeds."""
        model = {"spec": self.spec, "state_dict": self.state_dict()}
        return {"model": model, "members": {"seeds": list(self.seeds)}}

    def restore(self, checkpoint: dict, where: str) -> int:
        saved = checkpoint.get("members", {}).get("seeds")
        if saved != list(self.seeds):
            raise CheckpointError(
                f"{where}: its members have seeds {saved}, not {list(self.seeds)}"
            )
        restore_weights(self.state_dict(), checkpoint["model"]["state_dict"], where)
        generators = self.generators
        return restore_optimization(checkpoint, where, self.optimizer, self.scheduler, generators)
