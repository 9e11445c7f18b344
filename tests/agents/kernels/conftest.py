"""Fixtures of the kernel tests: the tilings that put chunk, segment and channel-block
boundaries inside short sequences."""

import pytest

import agents.kernels.cpu_library
from agents.kernels.selective_scan import tiling as selective_scan_tiling
from tests.helpers.selective_scan_checks import BATCH, WIDTH


@pytest.fixture(params=["whole", "small chunks"])
def chunking(request, monkeypatch) -> str:
    """The default chunking of the torch selective scan (one chunk at the tests' size), or
    chunks of 3 steps and segments of 9."""
    if request.param == "small chunks":
        monkeypatch.setattr(selective_scan_tiling, "CHUNK_ELEMENTS", 3 * BATCH * 2 * WIDTH * 4)
        monkeypatch.setattr(selective_scan_tiling, "SEGMENT_STEPS", 8)
    return request.param


@pytest.fixture(params=["one block", "blocks and segments"])
def tiling(request, monkeypatch) -> str:
    """The compiled kernels' whole width in one block, or blocks of 5 channels (the last one
    narrower: d_inner 32) and segments of 8 steps."""
    if request.param == "blocks and segments":
        monkeypatch.setattr(agents.kernels.cpu_library, "WIDEST_BLOCK", 5)
        monkeypatch.setattr(agents.kernels.cpu_library, "NARROWEST_BLOCK", 5)
        monkeypatch.setattr(selective_scan_tiling, "SEGMENT_STEPS", 8)
    return request.param
