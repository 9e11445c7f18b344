"""How the selective scan's backends tile a sequence: the torch kernels compute states a chunk
of L steps at a time (about CHUNK_ELEMENTS numbers, which stay in a CPU's cache), and every
backend saves only the states at segment boundaries (every SEGMENT_STEPS steps at least),
recomputing the rest in the backward. Read at call time, so that tests may shrink them."""

import math

CHUNK_ELEMENTS = 1 << 20  # states per chunk: 4 MiB in float32
SEGMENT_STEPS = 64  # steps between saved states, at least: they cost 1/64 of all states


def chunk_and_segment(batch: int, d_inner: int, d_state: int) -> tuple[int, int]:
    """Steps per chunk L, and per segment K (a multiple of L) between saved states."""
    chunk = max(1, CHUNK_ELEMENTS // (batch * d_inner * d_state))
    return chunk, chunk * math.ceil(SEGMENT_STEPS / chunk)
