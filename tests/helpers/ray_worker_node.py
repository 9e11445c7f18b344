"""A Ray worker node in a process of its own, for a test that starts it where the other nodes are
not (another mount namespace), joining the cluster as ray.cluster_utils.Cluster.add_node does:

    python -m tests.helpers.ray_worker_node GCS_ADDRESS CPUS

Prints "ready" once the cluster lists the node, then stays until killed (its raylet, agents and
workers are its children, to be stopped by pid)."""

import signal
import sys

from ray._private.node import Node
from ray._private.parameter import RayParams
from ray._private.services import wait_for_node


def main() -> None:
    address, cpus = sys.argv[1], int(sys.argv[2])
    params = RayParams(
        gcs_address=address,
        node_ip_address="127.0.0.1",
        num_cpus=cpus,
        num_gpus=0,
        object_store_memory=150 * 1024 * 1024,
        min_worker_port=0,
        max_worker_port=0,
        node_manager_port=0,
        include_log_monitor=False,
    )
    params.dashboard_agent_listen_port = None  # not the head's port: they share the network
    node = Node(params, head=False, shutdown_at_exit=True, spawn_reaper=True)
    wait_for_node(address, node.plasma_store_socket_name, 30)
    print("ready", flush=True)
    signal.pause()


if __name__ == "__main__":
    main()
