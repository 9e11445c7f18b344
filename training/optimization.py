"""AdamW with decay on weight matrices only, the learning-rate warm-up, and one optimiser step."""

import torch

from agents import DecisionModel
from training.config import Args


def make_optimizer(model: DecisionModel, args: Args, device: torch.device) -> torch.optim.AdamW:
    # Decay weight matrices only, as nanoGPT: not biases, norms or state-space parameters.
    parameters = [p for p in model.parameters() if p.requires_grad]
    decayed = [p for p in parameters if p.dim() >= 2 and not getattr(p, "no_weight_decay", False)]
    kept = [p for p in parameters if p.dim() < 2 or getattr(p, "no_weight_decay", False)]
    groups = [
        {"params": decayed, "weight_decay": args.weight_decay},
        {"params": kept, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=args.learning_rate, fused=device.type == "cuda")


def make_scheduler(
    optimizer: torch.optim.Optimizer, args: Args
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up to the peak learning rate, then constant (as Decision Transformer)."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / args.warmup_steps, 1.0)
    )


def optimization_step(model, optimizer, scheduler, loss: torch.Tensor, grad_clip: float) -> None:
    """Backward, clip, step: no host synchronisation (the loss stays on the device)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    scheduler.step()
