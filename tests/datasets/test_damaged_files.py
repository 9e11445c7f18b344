"""A damaged dataset file: one error line naming the dataset and the file, for the loader and
for train.py alike."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from datasets import DatasetError, load_dataset
from datasets.minari_store import HDF5_FILE_NAME
from tests.helpers.paths import REPOSITORY

DATASET_ID = "replica/hopper/random-v0"


@pytest.fixture
def truncated_store(tiny_dataset_store, tmp_path, monkeypatch) -> Path:
    """A copy of the tiny store whose data file is cut to half its size."""
    store = tmp_path / "store"
    shutil.copytree(tiny_dataset_store, store)
    data_file = store / DATASET_ID / "data" / HDF5_FILE_NAME
    os.truncate(data_file, data_file.stat().st_size // 2)
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(store))
    return store


def test_truncated_data_file_is_one_dataset_error(truncated_store):
    with pytest.raises(DatasetError) as error:
        load_dataset(DATASET_ID)
    message = str(error.value)
    data_file = truncated_store / DATASET_ID / "data" / HDF5_FILE_NAME
    assert message.startswith(f"dataset {DATASET_ID!r} at {data_file}: cannot read its data file")
    assert "(corrupted or truncated?)" in message and "\n" not in message


def test_train_reports_a_truncated_dataset_in_one_line_and_exits_2(truncated_store, tmp_path):
    completed = subprocess.run(
        [sys.executable, "train.py", "--dataset", DATASET_ID, "--steps", "1"]
        + ["--out-dir", str(tmp_path / "run")],
        cwd=REPOSITORY,
        env=os.environ | {"MINARI_DATASETS_PATH": str(truncated_store)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 2
    assert completed.stderr.startswith("error: dataset ") and completed.stderr.count("\n") == 1
    assert "corrupted or truncated?" in completed.stderr
    assert not (tmp_path / "run").exists()
