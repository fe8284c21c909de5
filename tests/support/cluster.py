"""A real Redis Cluster for tests: primaries and replicas as ``redis-server`` processes on free
ports in a temporary directory, joined by ``redis-cli --cluster create``; and the faults the
cluster tests inject (a primary SIGKILLed, slots moved between primaries).

Every wait here polls what the servers report (``CLUSTER INFO``, ``CLUSTER NODES``, ``INFO
replication``) until it holds, within a deadline; none is a fixed sleep.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import redis
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from tests.support.processes import ManagedProcess, wait_for_servers

NODE_TIMEOUT_MS = 1000  # how long a silent node takes to be judged failed: failovers in ~2 s
READY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class NodeView:
    """One line of ``CLUSTER NODES`` as a node sees it."""

    node_id: str
    port: int
    flags: frozenset[str]
    primary_id: str | None  # the primary a replica follows
    slots: frozenset[int]

    @property
    def is_primary(self) -> bool:
        return "master" in self.flags

    @property
    def failed(self) -> bool:
        return bool(self.flags & {"fail", "fail?", "noaddr"})


def parse_cluster_nodes(text: str) -> dict[int, NodeView]:
    """``CLUSTER NODES`` → its nodes by port (importing/migrating markers are left out)."""
    views: dict[int, NodeView] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split()
        node_id, address, flags, primary = parts[:4]
        slots: set[int] = set()
        for part in parts[8:]:
            if part.startswith("["):
                continue
            low, _, high = part.partition("-")
            slots.update(range(int(low), int(high or low) + 1))
        port = int(address.split("@")[0].rpartition(":")[2])
        views[port] = NodeView(
            node_id, port, frozenset(flags.split(",")), None if primary == "-" else primary, frozenset(slots)
        )
    return views


def _pick_ports(count: int) -> list[int]:
    """``count`` distinct free ports, held open together while they are chosen."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def _wait(condition: Callable[[], bool], what: str, deadline_s: float = READY_TIMEOUT_S) -> None:
    wait_for_servers(condition, what, deadline_s, every_s=0.05)


class ClusterNode(ManagedProcess):
    """One ``redis-server --cluster-enabled yes``; its data dir (``nodes.conf``) outlives a
    restart, so a node brought back rejoins as the cluster now sees it."""

    def __init__(self, data_dir: Path, *, node_timeout_ms: int) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not on PATH")
        port, bus_port = _pick_ports(2)
        data_dir.mkdir(parents=True, exist_ok=True)
        super().__init__(
            f"redis-cluster-{port}",
            [
                binary,
                "--port", str(port),
                "--cluster-port", str(bus_port),
                "--bind", "127.0.0.1",
                "--cluster-enabled", "yes",
                "--cluster-config-file", str(data_dir / "nodes.conf"),
                "--cluster-node-timeout", str(node_timeout_ms),
                "--save", "",
                "--appendonly", "no",
                "--repl-diskless-sync", "yes",
                "--repl-diskless-sync-delay", "0",
                "--dir", str(data_dir),
            ],
            port=port,
        )  # fmt: skip
        self.data_dir = data_dir
        self.url = f"redis://127.0.0.1:{port}/0"

    @property
    def client_port(self) -> int:
        assert self.port is not None
        return self.port

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def client(self) -> redis.Redis:
        return redis.Redis(
            port=self.client_port, socket_timeout=2, socket_connect_timeout=2, decode_responses=True
        )

    def command(self, *args: str | int) -> str:
        with self.client() as client:
            return str(client.execute_command(*args))

    def views(self) -> dict[int, NodeView]:
        """The cluster as this node sees it, by port."""
        return parse_cluster_nodes(self.command("CLUSTER", "NODES"))

    def node_id(self) -> str:
        return self.command("CLUSTER", "MYID")

    def replication(self) -> dict[str, Any]:
        """``INFO replication``: ``role``, ``master_link_status``, the offsets."""
        with self.client() as client:
            return dict(client.info("replication"))


class LocalCluster:
    """``primaries`` primaries with ``replicas`` replicas each, stopped by ``stop`` (SIGTERM,
    then SIGKILL after a timeout, including nodes killed and restarted by a test)."""

    def __init__(
        self, data_dir: Path, *, primaries: int = 3, replicas: int = 1, node_timeout_ms: int = NODE_TIMEOUT_MS
    ) -> None:
        self.data_dir = data_dir
        self.shape = (primaries, replicas)
        self.node_timeout_ms = node_timeout_ms
        self.nodes: list[ClusterNode] = []

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Self:
        _require_redis_7()
        primaries, replicas = self.shape
        try:
            for index in range(primaries * (1 + replicas)):
                self.nodes.append(self._start_node(self.data_dir / f"node-{index}"))
            addresses = [f"127.0.0.1:{node.client_port}" for node in self.nodes]
            subprocess.run(
                [
                    _redis_cli(),
                    "--cluster",
                    "create",
                    *addresses,
                    "--cluster-replicas",
                    str(replicas),
                    "--cluster-yes",
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_node(self, data_dir: Path) -> ClusterNode:
        """A port chosen free can be taken before redis-server binds it: then new ports."""
        for attempt in range(3):
            node = ClusterNode(data_dir, node_timeout_ms=self.node_timeout_ms)
            try:
                return node.start()
            except RuntimeError:
                node.stop()
                if attempt == 2:
                    raise RuntimeError(f"redis-server did not start:\n{node.log()[-2000:]}") from None
        raise AssertionError("unreachable")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop(signal.SIGTERM, timeout_s=5)

    @property
    def url(self) -> str:
        """``BFF_REDIS_URL`` of the cluster: a live primary."""
        return self.primaries()[0].url

    # -- what the cluster looks like -----------------------------------------------------------
    def alive(self) -> list[ClusterNode]:
        return [node for node in self.nodes if node.alive()]

    def by_port(self, port: int) -> ClusterNode:
        return next(node for node in self.nodes if node.port == port)

    def layout(self) -> dict[int, NodeView]:
        """The cluster as the first live node sees it, by port."""
        return self.alive()[0].views()

    def primaries(self) -> list[ClusterNode]:
        """Live primaries that own slots, by port."""
        views = self.layout()
        return sorted(
            (
                self.by_port(port)
                for port, view in views.items()
                if view.is_primary and view.slots and not view.failed
            ),
            key=lambda node: node.client_port,
        )

    def replicas_of(self, primary: ClusterNode) -> list[ClusterNode]:
        views = self.layout()
        primary_id = views[primary.client_port].node_id
        return [self.by_port(port) for port, view in views.items() if view.primary_id == primary_id]

    def owner_of_slot(self, slot: int) -> ClusterNode:
        views = self.layout()
        return self.by_port(
            next(port for port, view in views.items() if view.is_primary and slot in view.slots)
        )

    def owner_of_key(self, key: str) -> ClusterNode:
        return self.owner_of_slot(key_slot(key.encode()))

    def key_on(self, primary: ClusterNode, prefix: str) -> str:
        """A key ``prefix:<n>`` whose slot ``primary`` serves."""
        slots = self.layout()[primary.client_port].slots
        return next(
            key for key in (f"{prefix}:{n}" for n in range(100_000)) if key_slot(key.encode()) in slots
        )

    # -- waiting for a settled cluster -------------------------------------------------------
    def wait_ready(self, deadline_s: float = READY_TIMEOUT_S) -> None:
        """Every live node says ``cluster_state:ok`` with all slots served, they agree on who
        serves each slot and on the failed nodes, and every replica's link to its primary is up."""
        _wait(self._settled, "cluster settled", deadline_s)

    def _settled(self) -> bool:
        alive = self.alive()
        layouts = []
        for node in alive:
            info = dict(
                line.split(":", 1) for line in node.command("CLUSTER", "INFO").splitlines() if ":" in line
            )
            if info.get("cluster_state") != "ok" or info.get("cluster_slots_ok") != str(
                REDIS_CLUSTER_HASH_SLOTS
            ):
                return False
            views = node.views()
            live_ports = {n.client_port for n in alive}
            if any(view.failed != (port not in live_ports) for port, view in views.items()):
                return False
            layouts.append(
                {port: (view.is_primary, view.primary_id, view.slots) for port, view in views.items()}
            )
        if any(layout != layouts[0] for layout in layouts):
            return False
        for node in alive:
            replication = node.replication()
            if replication.get("role") == "slave" and replication.get("master_link_status") != "up":
                return False
        return True

    def wait_replicated(self, deadline_s: float = 10.0) -> None:
        """Every live replica has applied all its primary has written (asynchronous replication:
        call before killing a primary whose writes a test reads back)."""

        def caught_up() -> bool:
            for primary in self.primaries():
                offset = int(primary.replication()["master_repl_offset"])
                for replica in self.replicas_of(primary):
                    if replica.alive() and int(replica.replication()["slave_repl_offset"]) < offset:
                        return False
            return True

        _wait(caught_up, "replicas caught up", deadline_s)

    # -- faults ------------------------------------------------------------------------------
    def kill_primary(self, primary: ClusterNode, deadline_s: float = READY_TIMEOUT_S) -> ClusterNode:
        """SIGKILL ``primary`` and wait until one of its replicas serves its slots (and the
        cluster settled): returns that replica, now a primary."""
        replicas = {node.client_port for node in self.replicas_of(primary)}
        assert replicas, f"{primary.name} has no replica to take over"
        slots = self.layout()[primary.client_port].slots
        primary.kill()

        def promoted() -> bool:
            owner = self.owner_of_slot(min(slots))
            return owner.client_port in replicas and self._settled()

        _wait(promoted, f"a replica of {primary.name} promoted", deadline_s)
        return self.owner_of_slot(min(slots))

    def restart(self, node: ClusterNode, deadline_s: float = READY_TIMEOUT_S) -> None:
        """Start a stopped node again on its port and data dir (it rejoins as a replica of
        whoever took its slots) and wait until the cluster settled with it."""
        assert not node.alive()
        node.start()
        _wait(
            lambda: node.client_port in self.layout() and self._settled(), f"{node.name} rejoined", deadline_s
        )

    def move_slots(
        self, count: int, source: ClusterNode, target: ClusterNode, deadline_s: float = READY_TIMEOUT_S
    ) -> list[int]:
        """Move ``count`` slots (their keys with them) from ``source`` to ``target`` with
        ``redis-cli --cluster reshard``; wait until every node agrees; returns the slots moved."""
        before = source.views()[source.client_port].slots  # its own view: others learn by gossip
        subprocess.run(
            [
                _redis_cli(), "--cluster", "reshard", f"127.0.0.1:{source.client_port}",
                "--cluster-from", source.node_id(),
                "--cluster-to", target.node_id(),
                "--cluster-slots", str(count),
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )  # fmt: skip
        moved = sorted(before - source.views()[source.client_port].slots)
        assert len(moved) == count, f"moved {len(moved)} slots, not {count}"

        def agreed() -> bool:
            return all(set(moved) <= node.views()[target.client_port].slots for node in self.alive())

        _wait(lambda: agreed() and self._settled(), f"{count} slots moved", deadline_s)
        return moved


def _require_redis_7() -> None:
    """``--cluster-port`` (bus ports chosen free, not port + 10000) and sharded pub/sub."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not on PATH")
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
    major = int(version.split("v=", 1)[1].split(".", 1)[0])
    if major < 7:
        raise RuntimeError(f"the Redis Cluster tests need redis-server 7.0 or later: {version.strip()}")


def _redis_cli() -> str:
    binary = shutil.which("redis-cli")
    if binary is None:
        raise RuntimeError("redis-cli is not on PATH")
    return binary


@contextlib.contextmanager
def running_cluster(**options: int) -> Iterator[LocalCluster]:
    """A fresh cluster in a temporary directory, stopped and removed afterwards."""
    data_dir = Path(tempfile.mkdtemp(prefix="bff-cluster-"))
    cluster = LocalCluster(data_dir, **options).start()
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
