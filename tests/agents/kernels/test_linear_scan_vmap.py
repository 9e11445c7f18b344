"""Several members (seeds) of one backbone in one call: torch.func.vmap over stacked parameters
gives each member's outputs and gradients, through the scans' own vmap rules."""

import pytest
import torch
from torch.func import grad, vmap

from agents.kernels.linear_scan import linear_scan
from tests.helpers.member_checks import MEMBERS, members_agree
from tests.helpers.numerics import relative_error


@pytest.mark.parametrize("name", ["min-gru", "min-lstm"])
def test_vmap_over_members_matches_each_member(name, device):
    members_agree(name, device, tolerance=1e-12)


def test_vmap_of_linear_scan_and_its_gradient(device):
    a = torch.rand(MEMBERS, 2, 20, 3, dtype=torch.float64, device=device)
    b = torch.rand(MEMBERS, 2, 20, 3, dtype=torch.float64, device=device)
    h0 = torch.rand(2, 3, dtype=torch.float64, device=device)  # shared, not vmapped

    def loss(a, b):
        return (linear_scan(a, b, h0) ** 2).sum()

    h = vmap(linear_scan, in_dims=(0, 0, None), randomness="error")(a, b, h0)
    grad_a, grad_b = vmap(grad(loss, argnums=(0, 1)), randomness="error")(a, b)
    for i in range(MEMBERS):
        a_i, b_i = a[i].clone().requires_grad_(), b[i].clone().requires_grad_()
        assert relative_error(h[i], linear_scan(a_i, b_i, h0)) <= 1e-12
        expected = torch.autograd.grad(loss(a_i, b_i), [a_i, b_i])
        assert relative_error(grad_a[i], expected[0]) <= 1e-12
        assert relative_error(grad_b[i], expected[1]) <= 1e-12
