"""WindowSampler: shapes, right-padding and mask at episode ends, both modes, RNG discipline."""

import numpy as np
import pytest
import torch

from datasets import OfflineDataset, WindowBatch, WindowSampler

EPISODE_LENGTHS = [5, 3, 8]


def small_dataset() -> OfflineDataset:
    # Observation value = global step index, so every gathered row says where it came from.
    observations, actions, rewards, start = [], [], [], 0
    for length in EPISODE_LENGTHS:
        steps = np.arange(start, start + length, dtype=np.float32)
        observations.append(np.stack([steps, -steps], axis=1))  # (T, 2)
        actions.append(np.stack([steps, steps, steps], axis=1))  # (T, 3)
        rewards.append(np.ones(length))
        start += length
    return OfflineDataset.from_episodes(
        "test/windows-v0", "Hopper-v5", observations, actions, rewards
    )


def check_window(dataset: OfflineDataset, batch: WindowBatch, row: int) -> int:
    """Assert one window is a run of consecutive steps of one episode, padded after; returns
    its first step."""
    mask = batch.mask[row].numpy()
    real = int(mask.sum())
    assert real >= 1 and mask[:real].all() and not mask[real:].any()  # right-padded
    steps = batch.observations[row, :real, 0].numpy().astype(np.int64)
    first = steps[0]
    np.testing.assert_array_equal(steps, first + np.arange(real))
    episode = np.searchsorted(dataset.episode_starts, first, side="right") - 1
    end = dataset.episode_starts[episode] + dataset.episode_lengths[episode]
    assert first + real == min(first + mask.size, end)  # cut exactly at the episode end
    np.testing.assert_array_equal(batch.timesteps[row, :real].numpy(), dataset.timesteps[steps])
    np.testing.assert_allclose(
        batch.returns_to_go[row, :real].numpy(), dataset.returns_to_go[steps]
    )
    np.testing.assert_array_equal(batch.actions[row, :real, 0].numpy(), steps)
    for field in (batch.observations, batch.actions, batch.returns_to_go, batch.timesteps):
        assert not field[row, real:].any()  # padding is zeros
    return first


def test_shapes_and_dtypes():
    dataset = small_dataset()
    batch = WindowSampler(dataset, context_length=4).sample(64, torch.Generator().manual_seed(0))
    assert batch.returns_to_go.shape == (64, 4) and batch.returns_to_go.dtype == torch.float32
    assert batch.observations.shape == (64, 4, 2) and batch.observations.dtype == torch.float32
    assert batch.actions.shape == (64, 4, 3) and batch.actions.dtype == torch.float32
    assert batch.timesteps.shape == (64, 4) and batch.timesteps.dtype == torch.int64
    assert batch.mask.shape == (64, 4) and batch.mask.dtype == torch.bool


def test_windows_are_consecutive_steps_cut_and_padded_at_episode_end():
    dataset = small_dataset()
    batch = WindowSampler(dataset, context_length=4).sample(500, torch.Generator().manual_seed(1))
    starts = [check_window(dataset, batch, row) for row in range(500)]
    # Every step is a possible start (uniform over steps = episodes weighted by length).
    assert set(starts) == set(range(dataset.num_steps))


def test_from_episode_start_takes_first_steps_of_length_weighted_episodes():
    dataset = small_dataset()
    sampler = WindowSampler(dataset, context_length=1000, from_episode_start=True)
    batch = sampler.sample(4000, torch.Generator().manual_seed(2))
    starts = np.array([check_window(dataset, batch, row) for row in range(200)])
    assert set(starts) <= set(dataset.episode_starts.tolist())
    lengths = batch.mask.sum(dim=1).numpy()
    frequencies = np.array([(lengths == n).mean() for n in EPISODE_LENGTHS])
    np.testing.assert_allclose(frequencies, np.array(EPISODE_LENGTHS) / 16, atol=0.03)


def test_same_generator_state_gives_same_batch():
    sampler = WindowSampler(small_dataset(), context_length=3)
    generator = torch.Generator().manual_seed(3)
    state = generator.get_state()
    first = sampler.sample(8, generator)
    generator.set_state(state)
    again = sampler.sample(8, generator)
    assert torch.equal(first.observations, again.observations)
    assert torch.equal(first.mask, again.mask)


@pytest.mark.parametrize("context_length", [0, -2])
def test_context_length_must_be_positive(context_length):
    with pytest.raises(ValueError, match="context_length"):
        WindowSampler(small_dataset(), context_length=context_length)


def test_batch_size_must_be_positive():
    sampler = WindowSampler(small_dataset(), context_length=2)
    with pytest.raises(ValueError, match="batch_size"):
        sampler.sample(0, torch.Generator())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_device_resident_storage():
    sampler = WindowSampler(small_dataset(), context_length=4, device="cuda")
    batch = sampler.sample(16, torch.Generator().manual_seed(0))
    assert batch.observations.is_cuda and batch.mask.is_cuda
    on_cpu = WindowSampler(small_dataset(), context_length=4).sample(
        16, torch.Generator().manual_seed(0)
    )
    assert torch.equal(batch.observations.cpu(), on_cpu.observations)  # same windows anywhere
    with pytest.raises(ValueError, match="CPU generator"):
        sampler.sample(16, torch.Generator(device="cuda"))
