import pytest


@pytest.fixture(autouse=True)
def minari_store(tmp_path, monkeypatch):
    """A fresh, empty Minari store for every test here: nothing read from or left in the user's."""
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "store"))
    return tmp_path / "store"
