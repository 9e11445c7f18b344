"""Offline datasets: loading Minari datasets, sampling training windows, and building datasets
by rolling behaviour policies out in the environment."""

from datasets.errors import DatasetError
from datasets.loading import load_dataset
from datasets.offline_dataset import OfflineDataset
from datasets.window_sampler import WindowBatch, WindowSampler

__all__ = ["DatasetError", "OfflineDataset", "WindowBatch", "WindowSampler", "load_dataset"]
