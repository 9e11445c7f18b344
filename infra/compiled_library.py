"""A folder of C++ sources compiled on first use into one shared library, cached per machine,
and loaded with ctypes. The compiler is $CXX, else c++, g++ or clang++ from PATH, with
-march=native: the cache key holds the sources and headers, the command, the compiler's version
and the CPU's feature flags, so a home folder shared by different machines keeps one build per
kind of CPU. A build writes a temporary file and renames it into place (infra/atomic_files.py):
processes building at once each get a whole library. A cached library that does not load (a
damaged file) is removed and built again, once. Where the cache cannot be written, the library
is built into one folder per user in the system's temporary folder, which later processes
reuse. Each failure says which is at fault: the cache, the compiler, or this machine (its CPU
or runtime libraries, when a library just built does not load).
"""

import ctypes
import hashlib
import os
import platform
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

from .atomic_files import replaced_on_success
from .error_text import first_line
from .errors import UsageError

FLAGS = ("-O3", "-march=native", "-fopenmp", "-fno-math-errno", "-std=c++20")
COMPILERS = ("c++", "g++", "clang++")


class BuildError(UsageError):
    """The library cannot be had: the message says whether the cache, the compiler or this
    machine is at fault, in one line."""


def cache_folder() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "decision-backbones"


def fallback_folder() -> Path:
    """Where libraries are built when the cache is read-only: this user's own folder."""
    return Path(tempfile.gettempdir()) / f"decision-backbones-{os.getuid()}"


def find_compiler() -> str:
    named = os.environ.get("CXX")
    found = shutil.which(named) if named else next(filter(None, map(shutil.which, COMPILERS)), None)
    if found is None:
        wanted = f"CXX={named}" if named else " or ".join(COMPILERS)
        raise BuildError(f"no C++ compiler: {wanted} not found on PATH (set CXX to one)")
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
            compiler = Path(command[0]).name
            raise BuildError(f"the C++ compiler {compiler} failed on {folder.name}: {first_error}")


def load_library(folder: Path) -> ctypes.CDLL:
    """The library built from the .cpp files in `folder` (which may include the .h files beside
    them), from the cache (or the fallback folder) or compiled now."""
    command = [find_compiler(), *FLAGS]
    files = sorted(path for path in folder.iterdir() if path.suffix in (".cpp", ".h"))
    name = f"{folder.name}-{build_key(files, command)}.so"
    for place in (cache_folder(), fallback_folder()):
        if (place / name).exists():
            return _load_cached(place / name, folder, command)
    target = cache_folder() / name
    try:
        compile_library(folder, target, command)
    except PermissionError:  # a read-only cache
        target = _own_fallback_folder() / name
        compile_library(folder, target, command)
    return _load_built(target)


def _load_cached(target: Path, folder: Path, command: list[str]) -> ctypes.CDLL:
    """A cached library; one that does not load is removed and built again, once."""
    try:
        return ctypes.CDLL(str(target))
    except OSError as error:
        reason = first_line(str(error))
    try:
        target.unlink()
    except OSError as error:
        raise BuildError(
            f"the kernel cache: {target} does not load ({reason}) and cannot be removed"
            f" ({error.strerror}); remove it by hand"
        ) from None
    compile_library(folder, target, command)
    return _load_built(target)


def _load_built(target: Path) -> ctypes.CDLL:
    try:
        return ctypes.CDLL(str(target))
    except OSError as error:  # e.g. a runtime library it links missing here
        raise BuildError(
            f"{target.name}, just built, does not load on this machine (its CPU or runtime"
            f" libraries): {first_line(str(error))}"
        ) from None


def _own_fallback_folder() -> Path:
    """fallback_folder(), made private to this user; refused when someone else owns it or may
    write in it (a library planted there would run as this user)."""
    folder = fallback_folder()
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        status = folder.stat()
    except OSError as error:
        raise BuildError(
            f"the kernel cache {cache_folder()} is read-only and the fallback {folder} cannot"
            f" be made: {error.strerror}"
        ) from None
    if status.st_uid != os.getuid() or status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise BuildError(
            f"the kernel cache {cache_folder()} is read-only and the fallback {folder} is not"
            " this user's own (others may write in it); set XDG_CACHE_HOME to a writable folder"
        )
    return folder
