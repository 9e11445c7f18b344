"""AdamW with decay on weight matrices only, the learning-rate warm-up, and one optimiser step."""

from collections.abc import Callable

import torch
from torch import nn

from training.config import Args


def is_decayed(parameter: nn.Parameter) -> bool:
    """Weight matrices decay, as in nanoGPT; biases, norms and state-space dynamics (flagged
    `no_weight_decay` by their backbone) do not."""
    return parameter.dim() >= 2 and not getattr(parameter, "no_weight_decay", False)


def make_optimizer(
    decayed: list[torch.Tensor], kept: list[torch.Tensor], args: Args, device: torch.device
) -> torch.optim.AdamW:
    groups = [
        {"params": decayed, "weight_decay": args.weight_decay},
        {"params": kept, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=args.learning_rate, fused=device.type == "cuda")


def model_optimizer(model: nn.Module, args: Args, device: torch.device) -> torch.optim.AdamW:
    parameters = [p for p in model.parameters() if p.requires_grad]
    decayed = [p for p in parameters if is_decayed(p)]
    return make_optimizer(decayed, [p for p in parameters if not is_decayed(p)], args, device)


def make_scheduler(
    optimizer: torch.optim.Optimizer, args: Args
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up to the peak learning rate, then constant (as Decision Transformer)."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / args.warmup_steps, 1.0)
    )


def optimization_step(
    optimizer, scheduler, loss: torch.Tensor, clip_gradients: Callable[[], object]
) -> None:
    """Backward, clip, step: no host synchronisation (the loss stays on the device)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    clip_gradients()
    optimizer.step()
    scheduler.step()
