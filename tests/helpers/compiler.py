"""Tests of compiled code skip, with a reason, where this machine has no C++ compiler."""

import pytest

from infra.compiled_library import BuildError, find_compiler


def have_compiler() -> bool:
    try:
        find_compiler()
    except BuildError:
        return False
    return True


needs_compiler = pytest.mark.skipif(not have_compiler(), reason="no C++ compiler")
