"""A folder of C++ sources compiled on first use into one shared library, cached per machine,
and loaded with ctypes. The compiler is $CXX, else c++, g++ or clang++ from PATH, with
-march=native: the cache key holds the sources and headers, the command, the compiler's version
and the CPU's feature flags, so a home folder shared by different machines keeps one build per
kind of CPU. A build writes a temporary file and renames it into place (infra/atomic_files.py):
processes building at once each get a whole library.
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


def build_key(files: list[Path], command: list[str]) -> str:
    version = subprocess.run([command[0], "--version"], capture_output=True, text=True).stdout
    contents = [part for path in files for part in (path.name.encode(), path.read_bytes())]
    parts = (*contents, " ".join(command).encode(), version.encode(), cpu_features().encode())
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:16]


def compile_library(folder: Path, target: Path, command: list[str]) -> None:
    """Compile into a temporary file beside `target`, renamed into place once whole."""
    target.parent.mkdir(parents=True, exist_ok=True)
    sources = [str(path) for path in sorted(folder.glob("*.cpp"))]
    with replaced_on_success(target) as temporary:
        compiled = subprocess.run(
            [*command, "-shared", "-fPIC", *sources, "-o", str(temporary)],
            capture_output=True,
            text=True,
        )
        if compiled.returncode != 0:
            first_error = next(
                (line for line in compiled.stderr.splitlines() if "error" in line),
                compiled.stderr.strip().splitlines()[-1] if compiled.stderr.strip() else "",
            )
            raise BuildError(f"{Path(command[0]).name} failed on {folder.name}: {first_error}")


def load_library(folder: Path) -> ctypes.CDLL:
    """The library built from the .cpp files in `folder` (which may include the .h files beside
    them), from the cache or compiled now."""
    command = [find_compiler(), *FLAGS]
    files = sorted(path for path in folder.iterdir() if path.suffix in (".cpp", ".h"))
    target = cache_folder() / f"{folder.name}-{build_key(files, command)}.so"
    if not target.exists():
        try:
            compile_library(folder, target, command)
        except PermissionError:  # a read-only cache: build for this process alone
            target = Path(tempfile.mkdtemp()) / target.name
            compile_library(folder, target, command)
    try:
        return ctypes.CDLL(str(target))
    except OSError as error:  # e.g. a runtime library it links missing here
        raise BuildError(f"cannot load {target.name}: {error}") from None
