"""An nginx ``proxy_pass`` in front of the simulator: the throughput baseline of a pass-through.

Started on a free port with a generated config (one worker, keep-alive to the upstream,
no access log; nginx's default buffering, or none to disk); None when no nginx binary is installed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench._load import children
from tests.support.processes import free_port, wait_for_port

CONFIG = """
{user}
worker_processes 1;
daemon off;
master_process on;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  upstream simulator {{ server 127.0.0.1:{upstream_port}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://simulator;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      {buffering}
    }}
  }}
}}
"""


@dataclass
class Nginx:
    url: str
    process: subprocess.Popen[bytes]

    @property
    def pids(self) -> list[int]:
        """Master and workers: all of nginx's CPU counts."""
        return [self.process.pid, *children(self.process.pid)]


def binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/nginx/sbin/nginx") if os.access(p, os.X_OK)), None
    )


@contextlib.contextmanager
def nginx_proxy(upstream_port: int, *, disk_buffering: bool = True) -> Iterator[Nginx | None]:
    """nginx's defaults buffer a fast upstream's answer to temporary files (up to 1 GiB);
    ``disk_buffering=False`` keeps it in memory only (``proxy_max_temp_file_size 0``)."""
    nginx = binary()
    if nginx is None:
        yield None
        return
    work = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
    port = free_port()
    user = "user root;" if os.geteuid() == 0 else ""
    (work / "nginx.conf").write_text(
        CONFIG.format(
            user=user,
            dir=work,
            upstream_port=upstream_port,
            port=port,
            buffering="" if disk_buffering else "proxy_max_temp_file_size 0;",
        )
    )
    process = subprocess.Popen(
        [nginx, "-p", str(work), "-c", str(work / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port(port, process=process)
        yield Nginx(f"http://127.0.0.1:{port}", process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        shutil.rmtree(work, ignore_errors=True)
