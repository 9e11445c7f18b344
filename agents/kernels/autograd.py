"""The autograd Functions of every kernel treat each batch row alike; their vmap rule folds the
vmapped dimension (several models, e.g. seeds) into the batch, in the forward and the backward
pass, so that members run as one batch."""

import torch


def vmap_over_batch(function, info, in_dims, *inputs):
    """A `vmap` rule for scans, which treat every batch row alike: fold the vmapped dimension
    into the batch, apply once, unfold. Tensors that are not vmapped are expanded; other inputs
    (a kernel's name) pass as they are."""
    folded = []
    for tensor, dim in zip(inputs, in_dims, strict=True):
        if not isinstance(tensor, torch.Tensor):
            folded.append(tensor)
            continue
        if dim is None:
            tensor = tensor.expand(info.batch_size, *tensor.shape)
        else:
            tensor = tensor.movedim(dim, 0)
        folded.append(tensor.flatten(0, 1))  # (N, B, ...) -> (N * B, ...)
    outputs = function.apply(*folded)
    if isinstance(outputs, torch.Tensor):
        return outputs.unflatten(0, (info.batch_size, -1)), 0  # (N * B, ...) -> (N, B, ...)
    return tuple(output.unflatten(0, (info.batch_size, -1)) for output in outputs), 0


class RowwiseFunction(torch.autograd.Function):
    """An autograd node that treats every batch row alike, so that its vmap rule folds the
    vmapped dimension into the batch (`vmap_over_batch`): members (several seeds) run as one
    batch."""

    @classmethod
    def vmap(cls, info, in_dims, *inputs):
        return vmap_over_batch(cls, info, in_dims, *inputs)


class GradientFunction(RowwiseFunction):
    """A backward pass as a node of its own: under vmap(grad(...)) it runs on plain tensors, which
    it may write into, and its vmap rule folds the members into the batch there too."""

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass  # never differentiated
