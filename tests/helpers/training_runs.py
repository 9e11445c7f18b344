"""train.py on a tiny model, in this process: a run that must succeed, or a refusal's message."""

from pathlib import Path

import train

TINY = ["--backbone.d-model", "16", "--backbone.n-layers", "1", "--batch-size", "4"]
TINY += ["--context-length", "5", "--warmup-steps", "2", "--log-every", "1"]


def run(out_dir: Path, dataset: str, *flags: str, backbone: str = "min-gru") -> Path:
    """train.py with the TINY settings and `flags`, into `out_dir`; it must exit 0."""
    argv = [f"backbone:{backbone}", "--dataset", dataset, "--out-dir", str(out_dir), *TINY]
    assert train.main([*argv, *flags]) == 0
    return out_dir


def error_of(capsys, argv) -> str:
    """The one-line error train.py prints for `argv`, having checked it exits 2."""
    capsys.readouterr()  # drop what earlier runs printed
    assert train.main(argv) == 2
    message = capsys.readouterr().err.strip()
    assert message.startswith("error: ") and "\n" not in message
    return message
