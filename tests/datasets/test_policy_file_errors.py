"""A policy file that is not an .npz archive is called that, not pickled data, and nobody is
told to allow pickle."""

import os

import pytest

from datasets import DatasetError
from datasets.policy import load_policy


def test_random_bytes_are_not_an_npz_archive(tmp_path):
    path = tmp_path / "policy.npz"
    path.write_bytes(os.urandom(3000))
    with pytest.raises(DatasetError) as error:
        load_policy(path)
    message = str(error.value)
    assert message == f"policy file {path} is not a .npz archive (a zip file of arrays)"
    assert "allow_pickle" not in message
