"""Aaren and Mamba against their definitions: naive attention, the plain S6 loop, the reference
parameter layout, initialisation and configuration checks."""

import math

import pytest
import torch
import torch.nn.functional as F

from agents import DecisionModel, DecisionModelConfig, build_backbone
from agents.aaren import AarenConfig
from agents.mamba import MambaConfig
from tests.helpers.numerics import relative_error


def aaren_layer(**overrides):
    torch.manual_seed(0)
    return AarenConfig(**({"d_model": 16, "n_heads": 2} | overrides)).make_mixer().double()


def mamba_layer(**overrides):
    torch.manual_seed(0)
    return MambaConfig(**({"d_model": 16, "d_state": 4} | overrides)).make_mixer().double()


def naive_aaren(layer, x):
    """softmax(q . k_i / sqrt(d)) over i <= t, weighting v_i: one prefix at a time."""
    B, T, D = x.shape
    H, d_head = layer.n_heads, layer.d_head
    keys = layer.key(x).view(B, T, H, d_head)  # (B, T, H, d_head)
    values = layer.value(x).view(B, T, H, d_head)  # (B, T, H, d_head)
    scores = torch.einsum("bthd,hd->bth", keys, layer.query) / math.sqrt(d_head)  # (B, T, H)
    outputs = []
    for t in range(T):
        weights = torch.softmax(scores[:, : t + 1], dim=1)  # (B, t + 1, H)
        outputs.append(torch.einsum("bth,bthd->bhd", weights, values[:, : t + 1]).reshape(B, D))
    return layer.out(torch.stack(outputs, dim=1))


def test_aaren_is_softmax_attention_of_the_learned_query_over_prefixes():
    layer = aaren_layer()
    x = torch.randn(3, 25, 16, dtype=torch.float64)
    assert relative_error(layer(x), naive_aaren(layer, x)) <= 1e-12


def test_aaren_is_stable_for_scores_spanning_thousands():
    layer = aaren_layer(n_heads=1).float()
    direction = layer.query.detach() / layer.query.detach().norm()  # (1, 16)
    with torch.no_grad():
        layer.key.weight.copy_(torch.eye(16))
    # Scores jump between -1000 and +1000, far beyond exp's range of about 88: a prefix whose
    # scores all lie 2000 below the sequence's maximum must still be attended to.
    scale = 4 * 1000 / layer.query.detach().norm()  # s = scale * sign / sqrt(16)
    signs = torch.tensor([-1.0, -1.0, 1.0, -1.0, 0.5, -1.0, 1.0, 0.0] * 4)  # (T,)
    x = (scale * signs[:, None] * direction + 0.01 * torch.randn(32, 16)).unsqueeze(0)
    x.requires_grad_(True)
    y = layer(x)
    y.sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(x.grad).all()
    expected = naive_aaren(layer.double(), x.detach().double())
    torch.testing.assert_close(y.double(), expected, rtol=1e-4, atol=1e-4)


def plain_s6_loop(layer, x):
    """Mamba's block one position at a time, as Alg. 2 and the reference `step` write it."""
    B, T, D = x.shape
    d_inner, N, width = layer.d_inner, layer.d_state, layer.conv1d.kernel_size[0]
    inner, gate = layer.in_proj(x).chunk(2, dim=-1)  # (B, T, d_inner) each
    padded = F.pad(inner, (0, 0, width - 1, 0))  # zeros before the start: (B, width - 1 + T, E)
    kernel = layer.conv1d.weight.squeeze(1)  # (d_inner, width)
    A = -torch.exp(layer.A_log)  # (d_inner, N)
    h = x.new_zeros(B, d_inner, N)
    outputs = []
    for t in range(T):
        window = padded[:, t : t + width].transpose(1, 2)  # (B, d_inner, width)
        u = F.silu((window * kernel).sum(-1) + layer.conv1d.bias)  # (B, d_inner)
        dt_low, B_t, C_t = layer.x_proj(u).split([layer.dt_rank, N, N], dim=-1)
        dt = F.softplus(layer.dt_proj(dt_low))  # (B, d_inner)
        h = torch.exp(dt[..., None] * A) * h + dt[..., None] * B_t[:, None, :] * u[..., None]
        y = (h * C_t[:, None, :]).sum(-1) + layer.D * u  # (B, d_inner)
        outputs.append(layer.out_proj(y * F.silu(gate[:, t])))
    return torch.stack(outputs, dim=1)


@pytest.mark.parametrize("d_conv", [1, 4])
def test_mamba_scan_is_the_sequential_s6_recurrence(d_conv):
    layer = mamba_layer(d_conv=d_conv)
    with torch.no_grad():  # larger steps than the initial ones, so that the state matters
        layer.dt_proj.bias.add_(2.0)
    x = torch.randn(2, 40, 16, dtype=torch.float64)
    assert relative_error(layer(x), plain_s6_loop(layer, x)) <= 1e-12


def test_mamba_conv_is_causal_and_carries_its_window():
    layer = mamba_layer(d_conv=6)
    x = torch.randn(2, 9, 16, dtype=torch.float64)
    state, outputs = layer.initial_state(2), []
    for chunk in torch.tensor_split(x, [2, 4, 5], dim=1):  # chunks shorter than the conv
        y, state = layer.forward_chunk(chunk, state)
        outputs.append(y)
    assert relative_error(torch.cat(outputs, dim=1), layer(x)) <= 1e-12
    window, _ = state
    inner = layer.in_proj(x)[..., : layer.d_inner]  # (B, T, d_inner)
    torch.testing.assert_close(window, inner[:, -5:].transpose(1, 2))  # the last d_conv - 1
    changed = x.clone()
    changed[:, 6:] += 1.0
    torch.testing.assert_close(layer(changed)[:, :6], layer(x)[:, :6], rtol=0, atol=0)


def test_mamba_parameters_have_the_reference_names_and_shapes():
    d_model, d_state, d_conv, expand = 40, 8, 3, 2
    d_inner, dt_rank = expand * d_model, math.ceil(d_model / 16)
    layer = MambaConfig(d_model=d_model, d_state=d_state, d_conv=d_conv).make_mixer()
    assert {name: tuple(p.shape) for name, p in layer.named_parameters()} == {
        "in_proj.weight": (2 * d_inner, d_model),
        "conv1d.weight": (d_inner, 1, d_conv),
        "conv1d.bias": (d_inner,),
        "x_proj.weight": (dt_rank + 2 * d_state, d_inner),
        "dt_proj.weight": (d_inner, dt_rank),
        "dt_proj.bias": (d_inner,),
        "A_log": (d_inner, d_state),
        "D": (d_inner,),
        "out_proj.weight": (d_model, d_inner),
    }
    assert MambaConfig(d_model=d_model, dt_rank=5).make_mixer().dt_proj.weight.shape == (80, 5)


def test_initialisation_survives_the_decision_model():
    torch.manual_seed(0)
    backbone = build_backbone("mamba", d_model=32, dt_min=1e-3, dt_max=1e-1)
    model = DecisionModel(DecisionModelConfig(5, 3), backbone)
    layer = model.backbone.blocks[0].mixer
    dt = F.softplus(layer.dt_proj.bias)
    assert 1e-3 <= dt.min() and dt.max() <= 1e-1 and dt.std() > 0
    bound = layer.dt_rank**-0.5
    assert layer.dt_proj.weight.abs().max() <= bound and layer.dt_proj.weight.std() > 0.1 * bound
    torch.testing.assert_close(-torch.exp(layer.A_log[0]), -torch.arange(1.0, 17.0))
    assert torch.equal(layer.D, torch.ones(64))
    assert layer.in_proj.weight.std() < 0.03  # the GPT-2 initialisation elsewhere


def test_dynamics_and_query_are_not_decayed():
    mamba = MambaConfig(d_model=16).make_mixer()
    for parameter in (mamba.A_log, mamba.D, mamba.dt_proj.bias):
        assert parameter.no_weight_decay
    assert AarenConfig(d_model=16).make_mixer().query.no_weight_decay


@pytest.mark.parametrize(
    "name, params, message",
    [
        ("mamba", {"d_state": 0}, "d_state must be positive"),
        ("mamba", {"d_conv": 0}, "d_conv must be positive"),
        ("mamba", {"expand": -1}, "expand must be positive"),
        ("mamba", {"dt_rank": 0}, "dt_rank must be 'auto' or positive"),
        ("mamba", {"dt_min": 0.2, "dt_max": 0.1}, "need 0 < dt_min <= dt_max"),
        ("aaren", {"d_model": 16, "n_heads": 3}, r"n_heads \(3\) must be positive and divide"),
        ("aaren", {"n_heads": 0}, "n_heads"),
    ],
)
def test_bad_configurations_are_refused_in_one_line(name, params, message):
    config = {"mamba": MambaConfig, "aaren": AarenConfig}[name]
    with pytest.raises(ValueError, match=message) as error:
        config(**params)
    assert "\n" not in str(error.value)
