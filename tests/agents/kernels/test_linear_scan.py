"""The chunked scan and the torch backend of the gated scan against the paper's log-space scan,
the reference."""

import pytest
import torch

from agents.kernels.linear_scan import linear_scan
from agents.kernels.linear_scan.reference import log_space_scan
from tests.helpers.numerics import relative_error, small_backbone


@pytest.mark.parametrize("length", [1, 2, 3, 17, 100, 1000])
@pytest.mark.parametrize("start", ["zero", "positive"])
def test_chunked_scan_matches_log_space_reference(length, start):
    torch.manual_seed(length)
    a = torch.rand(2, length, 5, dtype=torch.float64)
    b = torch.rand(2, length, 5, dtype=torch.float64) * 3
    h0 = torch.zeros(2, 5, dtype=torch.float64) if start == "zero" else torch.rand(2, 5).double()
    reference = log_space_scan(a.log(), b.log(), h0)
    assert relative_error(linear_scan(a, b, h0), reference) <= 1e-12


def test_chunked_scan_survives_extreme_gates():
    # Gates near 0 and 1 over a long sequence: products underflow to 0 harmlessly, never overflow.
    a = torch.cat([torch.full((1, 500, 2), 1e-30), torch.full((1, 500, 2), 1 - 1e-7)], dim=1)
    b = torch.full((1, 1000, 2), 1e-3)
    h = linear_scan(a, b, torch.ones(1, 2))  # float32
    assert torch.isfinite(h).all()
    a, b = a.double(), b.double()  # the same float32 inputs, scanned in float64
    reference = log_space_scan(a.log(), b.log(), torch.ones(1, 2, dtype=torch.float64))
    assert relative_error(h.double(), reference) <= 1e-4


@pytest.mark.parametrize("length", [1, 5, 30])
def test_chunked_scan_gradients_are_exact(length):
    a = torch.rand(2, length, 3, dtype=torch.float64, requires_grad=True)
    b = torch.rand(2, length, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.rand(2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(linear_scan, (a, b, h0))


@pytest.mark.parametrize("name", ["min-gru", "min-lstm"])
def test_minimal_rnns_agree_across_scans(name):
    chunked = small_backbone(name)
    log_space = small_backbone(name, scan="log-space")
    log_space.load_state_dict(chunked.state_dict())
    x = torch.randn(2, 70, 16, dtype=torch.float64)
    assert relative_error(chunked(x), log_space(x)) <= 1e-9


@pytest.mark.parametrize("length", [1, 9, 70])
@pytest.mark.parametrize("name", ["min-gru", "min-lstm"])
def test_minimal_rnn_gradients_match_the_log_space_reference(name, length):
    """The chunked path's hand-written backward against autograd through the paper's scan."""
    chunked = small_backbone(name)
    log_space = small_backbone(name, scan="log-space")
    log_space.load_state_dict(chunked.state_dict())
    x = torch.randn(2, length, 16, dtype=torch.float64)
    h0 = [s[0].uniform_(0.1, 1.0) for s in chunked.initial_state(2)]  # a carried, positive state

    def gradients(backbone):
        inputs = x.clone().requires_grad_()
        state = tuple((h.clone().requires_grad_(),) for h in h0)
        y, final = backbone.forward_chunk(inputs, state)
        weights = torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)
        loss = (y * weights).sum() + sum(h.sum() for (h,) in final)
        leaves = [inputs, *(h for (h,) in state), *backbone.parameters()]
        return torch.autograd.grad(loss, leaves)

    for fast, reference in zip(gradients(chunked), gradients(log_space), strict=True):
        assert relative_error(fast, reference) <= 1e-9
