"""Where the tests find the repository, and the shared folder that may sit beside it."""

from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]  # tests/helpers/paths.py -> the repository
SHARED = REPOSITORY.parent / "shared"  # policies and reference tables, when beside the repository
