"""A C++ source compiled on first use into a shared library, cached per machine, and loaded
with ctypes. The compiler is $CXX, else c++, g++ or clang++ from PATH, with -march=native: the
cache key holds the source, the command, the compiler's version and the CPU's feature flags, so
a home folder shared by different machines keeps one build per kind of CPU. A build writes a
temporary file and renames it into place (infra/atomic_files.py): processes building at once
each get a whole library.
"""

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

from .atomic_files import replaced_on_success
from .errors import UsageError

FLAGS = ("-O3", "-march=native", "-fopenmp", "-fno-math-errno", "-std=c++20")
COMPILERS = ("c++", "g++", "clang++")


class BuildError(UsageError):
    """No compiler, or the compiler failed: the message says which, in one line."""


def cache_folder() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "decision-backbones"


def find_compiler() -> str:
    named = os.environ.get("CXX")
    found = shutil.which(named) if named else next(filter(None, map(shutil.which, COMPILERS)), None)
    if found is None:
        wanted = f"CXX={named}" if named else " or ".join(COMPILERS)
        raise BuildError(f"no C++ compiler: {wanted} not found on PATH")
    return found


def cpu_features() -> str:
    """The CPU's feature flags (x86 'flags', Arm 'Features'): what -march=native compiles for."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor()
    return next((line for line in lines if line.startswith(("flags", "Features"))), "")


def build_key(source: bytes, command: list[str]) -> str:
    version = subprocess.run([command[0], "--version"], capture_output=True, text=True).stdout
    parts = (source, " ".join(command).encode(), version.encode(), cpu_features().encode())
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:16]


def compile_library(source_path: Path, target: Path, command: list[str]) -> None:
    """Compile into a temporary file beside `target`, renamed into place once whole."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with replaced_on_success(target) as temporary:
        compiled = subprocess.run(
            [*command, "-shared", "-fPIC", str(source_path), "-o", str(temporary)],
            capture_output=True,
            text=True,
        )
        if compiled.returncode != 0:
            first_error = next(
                (line for line in compiled.stderr.splitlines() if "error" in line),
                compiled.stderr.strip().splitlines()[-1] if compiled.stderr.strip() else "",
            )
            raise BuildError(f"{Path(command[0]).name} failed on {source_path.name}: {first_error}")


def load_library(source_path: Path) -> ctypes.CDLL:
    """The library built from `source_path`, from the cache or compiled now."""
    command = [find_compiler(), *FLAGS]
    source = source_path.read_bytes()
    target = cache_folder() / f"{source_path.stem}-{build_key(source, command)}.so"
    if not target.exists():
        try:
            compile_library(source_path, target, command)
        except PermissionError:  # a read-only cache: build for this process alone
            target = Path(tempfile.mkdtemp()) / target.name
            compile_library(source_path, target, command)
    try:
        return ctypes.CDLL(str(target))
    except OSError as error:  # e.g. a runtime library it links missing here
        raise BuildError(f"cannot load {target.name}: {error}") from None
