"""Offscreen OpenGL for MuJoCo's renderer: EGL by default, OSMesa where EGL is missing.

MuJoCo and PyOpenGL bind to one platform per process, at the first render, so each candidate is
tried in a short child process (about a second) before this process commits to it."""

import importlib.util
import os
import subprocess
import sys

# What to try, in order, unless the user chose one with MUJOCO_GL.
BACKENDS = ("egl", "osmesa")
# The Debian packages that give each backend a software renderer (Mesa).
PACKAGES = {"egl": "libegl1 libegl-mesa0 libgl1-mesa-dri", "osmesa": "libosmesa6"}

_PROBE = """
import mujoco
from mujoco.{backend} import GLContext
context = GLContext(8, 8)
context.make_current()
context.free()
"""


def works(backend: str) -> bool:
    """Whether MuJoCo can make an offscreen context with `backend` on this machine."""
    environment = {**os.environ, "MUJOCO_GL": backend, "PYOPENGL_PLATFORM": backend}
    try:
        probe = subprocess.run(
            [sys.executable, "-c", _PROBE.format(backend=backend)],
            env=environment,
            capture_output=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        return False
    return probe.returncode == 0


def choose_gl_backend() -> str | None:
    """Set MUJOCO_GL (and PyOpenGL's platform) to the first backend that works here, or to the
    user's own choice if that works; returns a one-line reason when none does (else None).
    Call it before this process renders anything."""
    load_triton_first()
    chosen = os.environ.get("MUJOCO_GL", "").strip().lower()
    candidates = (chosen,) if chosen in BACKENDS else BACKENDS
    for backend in candidates:
        if works(backend):
            os.environ["MUJOCO_GL"] = backend
            os.environ["PYOPENGL_PLATFORM"] = backend
            return None
    packages = " or ".join(PACKAGES.get(backend, backend) for backend in candidates)
    tried = "MUJOCO_GL=" + "/".join(candidates)
    return f"no offscreen OpenGL for MuJoCo ({tried} failed): install {packages} (Debian)"


def load_triton_first() -> None:
    """Triton (an optional dependency, which torch imports lazily, e.g. when an optimiser is
    made) carries its own LLVM: imported after Mesa's software renderer has loaded the
    system's LLVM, it kills the process with a segmentation fault. Imported first, both work."""
    if importlib.util.find_spec("triton") is not None:
        import triton  # noqa: F401
