"""Paths train.py cannot use are one line and exit 2, with nothing written: an --out-dir that
is a file or cannot be made, and a Minari store (MINARI_DATASETS_PATH) that is a file."""

import pytest

import train


def refusal(capsys, argv) -> str:
    capsys.readouterr()
    assert train.main(argv) == 2
    message = capsys.readouterr().err.strip()
    assert message.startswith("error: ") and "\n" not in message
    return message


@pytest.mark.parametrize(
    "out_dir, expected",
    [
        ("a-file", "--out-dir {tmp}/a-file is a file; give a new or empty folder"),
        ("a-file/run", "--out-dir {tmp}/a-file/run: cannot create it: Not a directory"),
    ],
)
def test_an_out_dir_that_cannot_be_used(tmp_path, tiny_dataset, capsys, out_dir, expected):
    (tmp_path / "a-file").write_text("kept")
    argv = ["--dataset", tiny_dataset, "--steps", "2", "--out-dir", str(tmp_path / out_dir)]
    assert refusal(capsys, argv) == "error: " + expected.format(tmp=tmp_path)
    assert (tmp_path / "a-file").read_text() == "kept"


def test_a_minari_store_that_is_a_file(tmp_path, capsys, monkeypatch):
    store = tmp_path / "store"
    store.write_text("kept")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(store))
    argv = ["--steps", "2", "--out-dir", str(tmp_path / "run")]
    message = refusal(capsys, argv)
    assert message == (
        f"error: the Minari dataset store {store} (MINARI_DATASETS_PATH) cannot be used: "
        "not a folder"
    )
    assert not (tmp_path / "run").exists()
