"""Real Ray clusters for tests: several nodes (real GCS and raylets) on this machine, all traffic
on 127.0.0.1, in a private temporary folder, and every process stopped by pid afterwards.

Why these settings (Ray 2.60):
- Ray turns 127.0.0.1 into the machine's outward address wherever an address is resolved
  (`services.resolve_ip_for_localhost` -> `get_node_ip_address` ->
  `node_ip_address_from_perspective`, for ray.init's address and _node_ip_address and for
  `ray start --node-ip-address`), and its servers then listen on every interface. With
  RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, `get_node_ip_address` returns 127.0.0.1 instead (as on
  Windows and macOS), and GCS, raylets, object managers and workers listen on 127.0.0.1 only.
- That same variable makes `ray start --address` refuse to add a node (scripts.py: multi-node
  clusters "not supported on Windows and OSX"), so the nodes here are added with
  `ray.cluster_utils.Cluster`, each given node_ip_address 127.0.0.1.
- RAY_TMPDIR: session folders and `ray_current_cluster` go into a folder of the test's own,
  not /tmp/ray, which other Ray users of the machine share (and a short path, as Ray's Unix
  sockets allow about 107 characters).
- A token (RAY_AUTH_MODE=token, RAY_AUTH_TOKEN) as `ray start` has by default since Ray 2.59,
  given explicitly so that no ~/.ray/auth_token is read or written.
"""

import contextlib
import os
import secrets
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.helpers.processes import descendants, stop_pids

# One token for the whole test session: Ray caches the token it has read in each process.
TOKEN = secrets.token_hex(16)
# The GCS declares a node dead after 3 missed checks of 1 s (default: 5 of 3 s, after 5 s).
FAST_NODE_FAILURE = {
    "health_check_initial_delay_ms": 1000,
    "health_check_period_ms": 1000,
    "health_check_timeout_ms": 1000,
    "health_check_failure_threshold": 3,
}


@contextlib.contextmanager
def ray_environment(monkeypatch) -> Iterator[dict[str, str]]:
    """The variables above, set in this process (for the nodes it starts) and returned (for the
    suites it starts); the temporary folder is removed afterwards."""
    folder = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    (Path(folder) / "ray").mkdir()  # where Cluster records its address
    variables = {
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_TMPDIR": folder,
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": TOKEN,
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    try:
        yield variables
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def loopback_cluster(node_cpus: list[int], **head_options) -> Iterator:
    """A ray.cluster_utils.Cluster of len(node_cpus) nodes (the first is the head), each with
    its own CPUs; inside ray_environment. Every process of every node is gone afterwards."""
    from ray.cluster_utils import Cluster

    head = {"num_cpus": node_cpus[0], "node_ip_address": "127.0.0.1", "include_dashboard": False}
    cluster = Cluster(initialize_head=True, head_node_args=head | head_options)
    try:
        for cpus in node_cpus[1:]:
            cluster.add_node(num_cpus=cpus, node_ip_address="127.0.0.1")
        cluster.wait_for_nodes()
        yield cluster
    finally:
        pids = [pid for node in cluster.list_all_nodes() for pid in node_pids(node)]
        cluster.shutdown()
        stop_pids(pids)


def node_pids(node) -> list[int]:
    """The processes of one node: those Ray started for it (GCS, raylet, agents) and theirs
    (the raylet's workers)."""
    pids = [info.process.pid for infos in node.all_processes.values() for info in infos]
    return pids + [child for pid in pids for child in descendants(pid)]


def kill_node(node) -> list[int]:
    """Lose a node as a machine is lost: SIGKILL, by pid, its raylet, agents and workers."""
    pids = node_pids(node)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return pids
