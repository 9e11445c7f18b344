"""Joining Ray for a suite, with every check that can refuse it before a run starts: which
cluster (a fresh local instance, the one `ray start` recorded, or a given address), whether it
answers, whether it wants a token this machine does not give, and whether every node sees the
folders the runs read and write. Each problem is one line (UsageError), in seconds, instead of
Ray's minutes of retries or runs failing one by one on the nodes.

    ray = connect(address, environment)                 # environment: the workers' variables
    check_nodes_see(ray, {"results folder": out_dir}, {"dataset x": path_that_must_exist})
"""

import contextlib
import os
import secrets
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.error_text import error_line
from infra.errors import UsageError

# How long the first task on a node may take to start (a fresh worker imports torch).
NODE_CHECK_SECONDS = 120
TOKEN_HELP = (
    "set RAY_AUTH_MODE=token and give the cluster's token (`ray get-auth-token` on its head node "
    "prints it) in RAY_AUTH_TOKEN, in a file named by RAY_AUTH_TOKEN_PATH, or in ~/.ray/auth_token"
)


# The GCS call ray.init makes first; a raw gRPC name, as Ray exposes no client for it.
GET_CLUSTER_ID = "/ray.rpc.NodeInfoGcsService/GetClusterId"


@dataclass(frozen=True)
class RayInternals:
    """The private Ray pieces behind the fast pre-checks (as in Ray 2.59 and 2.60; pyproject
    bounds Ray below the next minor). Ray has no public way to ask these before ray.init."""

    address_file: Callable[[], Path]
    """Where `ray start --head` records its cluster (Ray's ray_current_cluster)."""
    gcs_channel: Callable[[str], Any]
    """A gRPC channel to a GCS, with TLS and token as ray.init has them."""
    has_token: Callable[[], bool]
    """Whether this machine gives a token (whatever RAY_AUTH_MODE says)."""


def ray_internals() -> RayInternals | None:
    """The private Ray pieces, or None where this Ray has moved them: then `connect` skips the
    pre-checks that need them and leaves those answers to ray.init (slower, the same outcome)."""
    try:
        from ray._common.utils import get_ray_address_file
        from ray._private.grpc_utils import init_grpc_channel
        from ray._raylet import AuthenticationTokenLoader

        token_loader = AuthenticationTokenLoader.instance
    except (ImportError, AttributeError):
        return None
    return RayInternals(
        address_file=lambda: Path(get_ray_address_file(None)),
        gcs_channel=init_grpc_channel,
        has_token=lambda: token_loader().has_token(ignore_auth_mode=True),
    )


def connect(address: str | None, environment: dict[str, str]):
    """ray.init for the suite: a fresh local instance when `address` is None (never a cluster
    some earlier `ray start` recorded: it may be long dead), the recorded cluster for 'auto',
    else the cluster at 'host:port' or 'ray://host:port'. Raises UsageError."""
    try:
        import ray
    except ImportError:
        raise UsageError("--engine ray needs Ray: pip install ray") from None
    if address is None:
        target, flag = "local", "a local Ray instance"
    else:
        target, flag = _checked_address(address, ray_internals())
    try:
        ray.init(
            address=target,
            runtime_env={"env_vars": environment},
            log_to_driver=False,
            configure_logging=False,
            **(
                {"include_dashboard": False} if address is None else {}
            ),  # its agents outlive a kill
        )
    except (ConnectionError, ray.exceptions.RayError, RuntimeError) as error:
        raise UsageError(f"{flag}: cannot start or join Ray: {error_line(error)}") from None
    return ray


def _checked_address(address: str, internals: RayInternals | None) -> tuple[str, str]:
    """The address to give ray.init and the words that name it in errors, once the quick checks
    have passed. Raises UsageError."""
    target, flag = address, f"--ray-address {address}"
    if address == "auto":
        target, source = recorded_cluster(internals)
        if target != "auto":  # else ray.init looks the cluster up itself
            flag = f"--ray-address auto ({target}, from {source})"
    if target.startswith("ray://"):
        _check_reachable(target, flag)
    elif internals is not None:
        _check_gcs(target, flag, internals)
    return target, flag


def recorded_cluster(internals: RayInternals | None) -> tuple[str, str]:
    """The cluster `--ray-address auto` means, and where it is written: RAY_ADDRESS, else the
    one the last `ray start --head` on this machine recorded ('auto' itself, for ray.init to
    look up, where this Ray does not say where it records it)."""
    if os.environ.get("RAY_ADDRESS"):
        return os.environ["RAY_ADDRESS"], "RAY_ADDRESS"
    if internals is None:
        return "auto", "Ray's own lookup"
    path = internals.address_file()
    recorded = path.read_text().strip() if path.is_file() else ""
    if not recorded:
        raise UsageError(
            f"--ray-address auto: no Ray cluster is running here ({path} records none; start "
            "one with `ray start --head`, or give its address)"
        )
    return recorded, str(path)


def _check_gcs(address: str, flag: str, internals: RayInternals) -> None:
    """Ask the cluster's GCS for its id, as ray.init's first call does, with a short deadline:
    a dead address or a refused token is said at once."""
    import grpc
    from ray.exceptions import AuthenticationError

    channel = internals.gcs_channel(address)
    get_cluster_id = channel.unary_unary(GET_CLUSTER_ID)
    try:
        get_cluster_id(b"", timeout=10)
    except (AuthenticationError, grpc.RpcError) as error:  # the former: no token to send
        if isinstance(error, grpc.RpcError) and error.code() == grpc.StatusCode.UNIMPLEMENTED:
            return  # this Ray renamed the call: ray.init checks the cluster itself
        if isinstance(error, grpc.RpcError) and error.code() != grpc.StatusCode.UNAUTHENTICATED:
            raise UsageError(f"{flag}: cannot connect: {error.details()}") from None
        message = f"{flag}: the cluster wants a token {_token_state(internals)}; {TOKEN_HELP}"
        raise UsageError(message) from None
    finally:
        channel.close()


def _token_state(internals: RayInternals) -> str:
    if os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
        return "and none is sent from here (RAY_AUTH_MODE is not 'token')"
    if not internals.has_token():
        return "and none is given here"
    return "other than the one given here"


def _check_reachable(address: str, flag: str) -> None:
    """A quick TCP check of a Ray Client address (ray://), instead of Ray's long retries."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except (OSError, ValueError) as error:
        raise UsageError(f"{flag}: cannot connect: {error}") from None


def check_nodes_see(ray, shared_folders: dict[str, Path], needed: dict[str, Path]) -> None:
    """Run a tiny task on every alive node that has CPUs, checking that it sees each of
    `shared_folders` (what -> folder) as this process does (a marker written here must be
    there), that each `needed` path exists, and that it can import this repository at all.
    Raises UsageError naming the first node and path that fail. Leaves nothing behind."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    token = secrets.token_hex(8)
    with _markers(shared_folders, token) as markers:
        expected = [(what, str(path), token) for what, path in markers.items()]
        expected += [(what, str(path), None) for what, path in needed.items()]
        check = ray.remote(num_cpus=0, max_retries=0)(missing_paths)
        nodes = [n for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU", 0) > 0]
        checks = {
            check.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
            ).remote(expected): node
            for node in nodes
        }
        answered, silent = ray.wait(
            list(checks), num_returns=len(checks), timeout=NODE_CHECK_SECONDS
        )
        if silent:
            raise UsageError(
                f"node {_name(checks[silent[0]])} ran no task within {NODE_CHECK_SECONDS} s "
                "(is it overloaded or unreachable?)"
            )
        for reference in answered:
            try:
                missing = ray.get(reference)
            except ray.exceptions.RayError as error:
                raise UsageError(
                    f"node {_name(checks[reference])} cannot run the suite's code "
                    f"({error_line(error)}): is this repository on a path every node shares?"
                ) from None
            if missing:
                what, path = missing[0]
                raise UsageError(
                    f"node {_name(checks[reference])} does not see the {what} {path}: put it on "
                    "a path every node shares (e.g. NFS), at the same place"
                )


def missing_paths(expected: list[tuple[str, str, str | None]]) -> list[tuple[str, str]]:
    """On a node: (what, path) of each expected path that is not there (or, for a marker, does
    not hold `content`)."""
    missing = []
    for what, path, content in expected:
        present = Path(path).exists() if content is None else _holds(Path(path), content)
        if not present:
            shown = path if content is None else str(Path(path).parent)
            missing.append((what, shown))
    return missing


def _holds(path: Path, content: str) -> bool:
    try:
        return path.read_text() == content
    except OSError:
        return False


@contextlib.contextmanager
def _markers(folders: dict[str, Path], token: str) -> Iterator[dict[str, Path]]:
    """A marker file holding `token` in each folder (made if absent) for the block; afterwards
    the markers, and the folders made for them, are gone again."""
    made: list[Path] = []
    markers: dict[str, Path] = {}
    try:
        for what, folder in folders.items():
            folder = folder.resolve()
            made += reversed([p for p in [folder, *folder.parents] if not p.exists()])
            folder.mkdir(parents=True, exist_ok=True)
            markers[what] = folder / f".node-check-{token}"
            markers[what].write_text(token)
        yield markers
    finally:
        for marker in markers.values():
            marker.unlink(missing_ok=True)
        for folder in reversed(made):
            with contextlib.suppress(OSError):  # something else was put there meanwhile
                folder.rmdir()


def _name(node: dict) -> str:
    return f"{node['NodeManagerAddress']} ({node['NodeID'][:8]})"
