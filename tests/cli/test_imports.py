"""The command lines import packages, never each other. (The packages' own layers are
pyproject.toml's import-linter contract: `lint-imports`, which CI runs; it takes packages only,
not these top-level modules.)"""

import ast
from pathlib import Path

import pytest

from tests.helpers.paths import REPOSITORY

COMMAND_LINES = ("train", "evaluate", "benchmark", "export")


def imported_modules(path: Path) -> set[str]:
    """The top-level names of every absolute import in the file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("command_line", COMMAND_LINES)
def test_a_command_line_imports_no_other_command_line(command_line):
    imported = imported_modules(REPOSITORY / f"{command_line}.py")
    assert "training" in imported or "scoring" in imported or "suite" in imported
    assert not imported & (set(COMMAND_LINES) - {command_line})
