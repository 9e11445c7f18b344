"""Folders of C++ sources compiled on first use: built once into the cache and reused, rebuilt
when a source or header changes, and a failed build says why in one line and leaves nothing
behind."""

import pytest

from infra.compiled_library import BuildError, load_library
from tests.helpers.compiler import needs_compiler


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "decision-backbones"


@needs_compiler
def test_a_folder_is_built_once_and_then_loaded_from_the_cache(tmp_path, cache):
    folder = tmp_path / "answers"
    folder.mkdir()
    (folder / "value.h").write_text("#define VALUE 42\n")
    (folder / "answer.cpp").write_text(
        '#include "value.h"\nextern "C" int answer() { return VALUE; }\n'
    )
    (folder / "double.cpp").write_text('extern "C" int twice(int v) { return 2 * v; }\n')
    library = load_library(folder)
    assert library.answer() == 42 and library.twice(4) == 8  # both sources, one library
    (built,) = cache.iterdir()  # the library alone: no temporary file left
    assert built.name.startswith("answers-") and built.suffix == ".so"
    modified = built.stat().st_mtime_ns
    assert load_library(folder).answer() == 42
    assert list(cache.iterdir()) == [built] and built.stat().st_mtime_ns == modified
    (folder / "value.h").write_text("#define VALUE 43\n")  # a new header, a new build
    assert load_library(folder).answer() == 43 and len(list(cache.iterdir())) == 2


@needs_compiler
def test_a_failed_build_says_why_in_one_line_and_leaves_nothing(tmp_path, cache):
    (tmp_path / "broken.cpp").write_text("int broken( {\n")
    with pytest.raises(BuildError, match=r"failed on .*: .*broken\.cpp.*error") as error:
        load_library(tmp_path)
    assert "\n" not in str(error.value)
    assert not cache.exists() or not list(cache.iterdir())


def test_without_a_compiler_the_error_names_the_one_asked_for(tmp_path, cache, monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler")
    (tmp_path / "answer.cpp").write_text('extern "C" int answer() { return 42; }\n')
    with pytest.raises(BuildError, match="no C.. compiler: CXX=no-such-compiler not found on PATH"):
        load_library(tmp_path)
    assert not cache.exists()
