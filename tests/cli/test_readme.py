"""The README against what CI runs: CI installs exactly as the README's set-up says and runs the
README's tests, and the README stays short enough to read first."""

import re

from tests.helpers.paths import REPOSITORY

README = (REPOSITORY / "README.md").read_text()
CI_COMMANDS = [
    line.strip()
    for line in (REPOSITORY / ".ci" / "run").read_text().splitlines()
    if line.strip() and not line.lstrip().startswith("#")
]


def section_commands(title: str) -> list[str]:
    """The commands of the first bash block under the README's `## title`, split at `&&`,
    comments dropped."""
    section = README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"^```bash\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    lines = (line.split("#")[0] for line in block.group(1).splitlines())
    return [part.strip() for line in lines for part in line.split("&&") if part.strip()]


def test_ci_installs_as_the_readme_set_up_says():
    start = CI_COMMANDS.index("python3 -m venv .venv")
    end = CI_COMMANDS.index('pip install -e ".[dev]"')
    assert CI_COMMANDS[start + 2] == "pip install torch==2.13.0"  # torch first, pinned
    assert section_commands("Set-up") == CI_COMMANDS[start : end + 1]


def test_ci_runs_the_readme_tests():
    ci_after_set_up = CI_COMMANDS[CI_COMMANDS.index('pip install -e ".[dev]"') + 1 :]
    assert section_commands("Tests") == ci_after_set_up
    assert "python -m pytest" in ci_after_set_up


def test_readme_is_short():
    assert len(README.splitlines()) <= 300
