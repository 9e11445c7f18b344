"""The compiled-library cache when something is wrong with it: a cached library that does not
load is built again once; a read-only cache builds into one per-user folder that later loads
reuse; nothing temporary is left; and each message says whether the cache, the compiler or the
machine is at fault."""

import os

import pytest

import infra.compiled_library
from infra.compiled_library import BuildError, fallback_folder, load_library
from tests.helpers.compiler import needs_compiler

pytestmark = needs_compiler


@pytest.fixture
def sources(tmp_path, monkeypatch):
    """A folder of one source; the cache and the system's temporary folder of the test's own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache-home"))
    monkeypatch.setattr(infra.compiled_library.tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    folder = tmp_path / "answers"
    folder.mkdir()
    (folder / "answer.cpp").write_text('extern "C" int answer() { return 42; }\n')
    return folder


def cache(tmp_path):
    return tmp_path / "cache-home" / "decision-backbones"


def test_a_cached_library_that_does_not_load_is_built_again(tmp_path, sources, monkeypatch):
    assert load_library(sources).answer() == 42
    (built,) = cache(tmp_path).iterdir()
    # The same library name in another cache, damaged there (a path this process never loaded).
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "other-home"))
    damaged = tmp_path / "other-home" / "decision-backbones" / built.name
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"\x7fELF not really")
    assert load_library(sources).answer() == 42
    assert list(damaged.parent.iterdir()) == [damaged]  # rebuilt in place, nothing else left
    assert damaged.read_bytes() == built.read_bytes()


def test_a_read_only_cache_builds_into_one_folder_per_user(tmp_path, sources, monkeypatch):
    compile_library = infra.compiled_library.compile_library

    def read_only_cache(folder, target, command):
        if cache(tmp_path) in target.parents:
            raise PermissionError(13, "Permission denied", str(target))
        compile_library(folder, target, command)

    monkeypatch.setattr(infra.compiled_library, "compile_library", read_only_cache)
    assert load_library(sources).answer() == 42
    fallback = fallback_folder()
    assert fallback == tmp_path / "tmp" / f"decision-backbones-{os.getuid()}"
    (built,) = fallback.iterdir()
    assert fallback.stat().st_mode & 0o777 == 0o700
    modified = built.stat().st_mtime_ns
    assert load_library(sources).answer() == 42  # reused, not built again
    assert list(fallback.iterdir()) == [built] and built.stat().st_mtime_ns == modified
    assert list((tmp_path / "tmp").iterdir()) == [fallback]  # no temporary folder per process


def test_a_fallback_folder_others_may_write_in_is_refused(tmp_path, sources, monkeypatch):
    def read_only_cache(folder, target, command):
        raise PermissionError(13, "Permission denied", str(target))

    monkeypatch.setattr(infra.compiled_library, "compile_library", read_only_cache)
    fallback_folder().mkdir(mode=0o777)
    os.chmod(fallback_folder(), 0o777)
    with pytest.raises(BuildError, match="is read-only and the fallback .* not this user's own"):
        load_library(sources)
    assert list(fallback_folder().iterdir()) == []


def test_a_failed_compile_names_the_compiler(tmp_path, sources):
    (sources / "broken.cpp").write_text("int broken( {\n")
    with pytest.raises(BuildError, match=r"^the C\+\+ compiler \S+ failed on answers: "):
        load_library(sources)
