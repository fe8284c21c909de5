"""One dev stack per port and per data directory: a second one refuses at once and names
the process in its way, instead of claiming to run while its API cannot bind."""

from __future__ import annotations

import fcntl
import json
import os
import socket
from pathlib import Path
from typing import IO, Any

LOCK_FILE = "dev.lock"
MAX_PROCESSES_SCANNED = 100_000


def port_is_free(port: int) -> bool:
    """True when a server could listen on 127.0.0.1:``port`` now (as uvicorn would bind it)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _listening_inodes(port: int) -> set[str]:
    """Inodes of the sockets listening on ``port``, from the kernel's tables (Linux)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def command_of(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    return " ".join(part.decode(errors="replace") for part in argv if part) or "?"


def holder_of(port: int) -> int | None:
    """The pid of a process listening on ``port``, when this host lets us see it (Linux /proc)."""
    wanted = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not wanted:
        return None
    pids = [entry.name for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    for pid in pids[:MAX_PROCESSES_SCANNED]:
        try:
            descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                if os.readlink(descriptor) in wanted:
                    return int(pid)
            except OSError:
                continue
    return None


def describe_holder(port: int) -> str:
    pid = holder_of(port)
    if pid is None:
        return "another process (not visible to this user)"
    return f"pid {pid} ({command_of(pid)})"


class StackLock:
    """An exclusive lock on ``data_dir/dev.lock`` held for the stack's life (the kernel drops it
    when the process dies, so a crash leaves nothing stale); the file names the holder."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self.file: IO[str] | None = None

    def acquire(self, **facts: object) -> dict[str, Any] | None:
        """None once held; else what the holder wrote (its pid, command and ports)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        file = open(self.path, "a+", encoding="utf-8")  # held until release()
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            file.seek(0)
            text = file.read(4096)
            file.close()
            try:
                holder = json.loads(text)
            except ValueError:
                holder = None
            return holder if isinstance(holder, dict) else {}
        file.seek(0)
        file.truncate()
        file.write(json.dumps({"pid": os.getpid(), "command": command_of(os.getpid()), **facts}))
        file.flush()
        self.file = file
        return None

    def release(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
