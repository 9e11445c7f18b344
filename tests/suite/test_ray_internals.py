"""The private Ray pieces behind the quick pre-checks of suite/ray_cluster.py: present in the Ray
installed here, and when a Ray moves them, `connect` still joins through plain ray.init."""

import sys

import pytest

from infra.errors import UsageError
from suite.ray_cluster import connect, ray_internals, recorded_cluster
from tests.helpers.ray_clusters import loopback_cluster, ray_environment


def hide_private_ray(monkeypatch) -> None:
    """As a Ray that moved its gRPC helpers: importing them fails."""
    monkeypatch.setitem(sys.modules, "ray._private.grpc_utils", None)


def test_the_installed_ray_has_the_pieces_the_quick_checks_use(tmp_path, monkeypatch):
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    internals = ray_internals()
    assert internals is not None, "the quick checks would silently be skipped on this Ray"
    assert internals.address_file().is_relative_to(tmp_path)
    assert isinstance(internals.has_token(), bool)


def test_without_the_private_pieces_auto_is_looked_up_by_ray_init(tmp_path, monkeypatch):
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path / "ray-folder"))  # none recorded there
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    hide_private_ray(monkeypatch)
    assert ray_internals() is None
    assert recorded_cluster(None) == ("auto", "Ray's own lookup")
    with pytest.raises(UsageError) as refused:
        connect("auto", {})
    message = str(refused.value)
    assert message.startswith("--ray-address auto: cannot start or join Ray: ")
    assert "\n" not in message


@pytest.mark.slow  # starting a Ray node takes tens of seconds on 2 cores
def test_without_the_private_pieces_a_running_cluster_is_still_joined(monkeypatch):
    with ray_environment(monkeypatch), loopback_cluster([1]) as cluster:
        hide_private_ray(monkeypatch)
        for address in [cluster.address, "auto"]:  # "auto": the cluster's record, read by Ray
            ray = connect(address, {})
            try:
                nodes = [node for node in ray.nodes() if node["Alive"]]
                assert [node["NodeManagerAddress"] for node in nodes] == ["127.0.0.1"]
            finally:
                ray.shutdown()
