"""The walkthrough (docs/walkthrough.md), call by call, through the Python client that
openapi-python-client generated from openapi/bff.json (``generate.py``), against a live stack this script starts:
``python -m app dev`` (simulator + API + worker) on free ports, on a private ``redis-server``
(or on ``BFF_REDIS_URL`` when that is set, or 127.0.0.1:6379 when no redis-server is installed).

Every answer must parse into the generated model of its documented status (a ``None`` or an
undocumented status fails the check), so the document and what runs agree where a Python
consumer looks. Run by ``make client-check`` with this directory's venv:
``walkthrough.py --app-python .venv/bin/python``.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE / "generated"))

from bff_client import AuthenticatedClient  # noqa: E402
from bff_client.api.activity import (  # noqa: E402
    get_activity_stream_link,
    list_activity,
    poll_activity_consumer,
    seek_activity_consumer,
)
from bff_client.api.catalog import search_events  # noqa: E402
from bff_client.api.drafts import create_draft, submit_draft, update_draft  # noqa: E402
from bff_client.api.exports import create_export, get_export, list_exports  # noqa: E402
from bff_client.api.packages import (  # noqa: E402
    create_package,
    download_customer_list,
    get_evaluation,
    get_package,
    get_package_status,
    list_packages,
    update_evaluation,
    watch_package,
)
from bff_client.api.webhooks import (  # noqa: E402
    create_webhook,
    list_webhook_deliveries,
    recover_webhook_deliveries,
    send_test_webhook,
)
from bff_client.models import (  # noqa: E402
    ActivityPage,
    ActivityStreamLink,
    ConsumerPosition,
    ConsumerSeek,
    CreatePackageRequest,
    DeliveryAccepted,
    DeliveryPage,
    DraftCreate,
    DraftPatch,
    DraftStep,
    DraftView,
    EndpointCreate,
    EndpointWithSecret,
    EvaluationSettingsUpdate,
    EvaluationView,
    EventSearchResults,
    Export,
    ExportAccepted,
    ExportPage,
    ExportRequest,
    PackageAccepted,
    PackageList,
    PackageStatus,
    PackageStatusView,
    PackageView,
    RecoverAccepted,
    RecoverRequest,
    WatchView,
    WebhookEventType,
)
from bff_client.types import Response  # noqa: E402

T = TypeVar("T")
DEADLINE_S = 90.0  # the whole stack on a busy 2-core machine; a build takes about a second
TERMINAL = {PackageStatus.DONE, PackageStatus.FAILED, PackageStatus.EXPIRED}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answered(response: Response[Any], status: int, model: type[T]) -> T:
    """The parsed body of the expected status, as the generated model."""
    if response.status_code != status or not isinstance(response.parsed, model):
        raise AssertionError(
            f"expected {status} {model.__name__}, got {response.status_code}: {response.content[:500]!r}"
        )
    return response.parsed


class Stack:
    """``python -m app dev`` as a child process of its own group; its output is kept for a
    failure report and drained as it comes (a full pipe would stall the stack)."""

    def __init__(self, app_python: str, env: dict[str, str], api_port: int, sim_port: int) -> None:
        command = [app_python, "-m", "app", "dev", "--port", str(api_port), "--simulator-port", str(sim_port)]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, start_new_session=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self._ready: queue.Queue[bool] = queue.Queue()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if line.startswith("Package Builder BFF is running."):
                self._ready.put(True)
        self._ready.put(False)

    def wait_ready(self) -> None:
        try:
            ready = self._ready.get(timeout=DEADLINE_S)
        except queue.Empty:
            ready = False
        if not ready:
            raise AssertionError("the stack did not come up:\n" + "".join(self.lines[-60:]))

    def stop(self) -> None:
        """Ctrl-C, as a developer would (the dev command stops its children), then a kill of
        this group only if it lingers."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@contextmanager
def private_redis() -> Iterator[str | None]:
    """A throwaway redis-server (nothing else's queue or keys), unless BFF_REDIS_URL is set."""
    binary = shutil.which("redis-server")
    if os.environ.get("BFF_REDIS_URL") or binary is None:
        yield os.environ.get("BFF_REDIS_URL")
        return
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bff-client-check-") as data:
        argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        server = subprocess.Popen([*argv, "--dir", data], stdout=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_for_port(port, server)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            server.terminate()
            server.wait(timeout=10)


def wait_for_port(port: int, process: subprocess.Popen[Any]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"redis-server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)  # a port that is not listening yet has no event to wait on
    raise AssertionError(f"nothing listens on {port}")


class Receiver:
    """A webhook endpoint on 127.0.0.1 that answers 204 and hands over what it got."""

    def __init__(self) -> None:
        self.bodies: queue.Queue[dict[str, Any]] = queue.Queue()
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                bodies.put(json.loads(self.rfile.read(length)))
                self.send_response(HTTPStatus.NO_CONTENT)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def follow_events(events_url: str) -> PackageStatus:
    """``curl -sN "$EVENTS"``: a signed link, no headers; read status events until the build ends."""
    with httpx.Client(timeout=httpx.Timeout(DEADLINE_S)) as plain:
        with plain.stream("GET", events_url) as stream:
            assert stream.status_code == 200, stream.status_code
            assert stream.headers["content-type"].startswith("text/event-stream")
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    status = PackageStatus(json.loads(line[5:])["status"])
                    if status in TERMINAL:
                        return status
    raise AssertionError("the event stream ended before the build did")


def walkthrough(api: AuthenticatedClient, receiver: Receiver) -> list[str]:
    """The walkthrough's calls in its order; returns what each showed, for the log."""
    done: list[str] = []
    # the wizard's state lives server-side: create a draft, change it with If-Match, submit it
    state = {"title": "Munich shows Q3", "event_ids": [12345]}
    created = create_draft.sync_detailed(
        client=api, body=DraftCreate.from_dict({"step": "events", "state": state})
    )
    draft = answered(created, 201, DraftView)
    patch = DraftPatch.from_dict({"step": "preview", "state": {"targeting_mode": "lookalike"}})
    patched = answered(
        update_draft.sync_detailed(draft.id, client=api, body=patch, if_match=created.headers["etag"]),
        200,
        DraftView,
    )
    assert patched.step is DraftStep.PREVIEW
    first = answered(submit_draft.sync_detailed(draft.id, client=api), 202, PackageAccepted)
    again = answered(submit_draft.sync_detailed(draft.id, client=api), 202, PackageAccepted)
    assert first.id == again.id, "a double click makes one package"
    done.append(f"draft {draft.id} submitted twice: package {first.id}")

    # the list, newest first
    page = answered(list_packages.sync_detailed(client=api, limit=5), 200, PackageList)
    assert any(row.id == first.id for row in page.items)
    assert all(isinstance(row.status, PackageStatus) for row in page.items)

    # pick events in the wizard, then create (202 + Location + Retry-After)
    found = answered(
        search_events.sync_detailed(client=api, search="munich", page=1), 200, EventSearchResults
    )
    event_ids = [int(event.id) for event in found.results[:2]] or [12345, 23456]
    body = CreatePackageRequest.from_dict({
        "title": "Munich shows Q3", "event_ids": event_ids, "targeting_mode": "lookalike",
        "num_packages": 3, "n_top_events": 3,
        "filters": {"exclude_old_purchases_before": "2024-01-01", "exclude_ticket_categories": ["VIP"]},
    })  # fmt: skip
    response = create_package.sync_detailed(client=api, body=body, idempotency_key=f"demo-{uuid.uuid4().hex}")
    package = answered(response, 202, PackageAccepted)
    assert package.status is PackageStatus.INITIALIZING
    assert response.headers["location"] and int(response.headers["retry-after"]) >= 1
    done.append(f"package {package.id} created from {len(found.results)} events found")

    # watch it live (Server-Sent Events), or poll the cheap status
    watch = answered(watch_package.sync_detailed(package.id, client=api), 202, WatchView)
    ended = follow_events(watch.events_url)
    assert ended is PackageStatus.DONE, ended
    status = answered(get_package_status.sync_detailed(package.id, client=api), 200, PackageStatusView)
    assert status.status is PackageStatus.DONE
    done.append(f"followed to {ended} over Server-Sent Events")

    # the results page in one call; its ETag makes a repeat a 304 with no body
    viewed = get_package.sync_detailed(package.id, client=api)
    view = answered(viewed, 200, PackageView)
    assert view.status is PackageStatus.DONE and view.clusters
    repeat = get_package.sync_detailed(package.id, client=api, if_none_match=viewed.headers["etag"])
    assert repeat.status_code == 304, repeat.status_code

    # one cluster's customers as CSV: the csv_url works with no headers at all
    cluster = view.clusters[0]
    with httpx.Client(timeout=30) as plain:
        csv = plain.get(cluster.csv_url)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv.headers["content-disposition"]
    typed = download_customer_list.sync_detailed(package.id, cluster.tc, client=api)
    assert typed.status_code == 200 and typed.content == csv.content
    done.append(f"results: {len(view.clusters)} clusters, CSV of {cluster.tc!r} {len(csv.content)} bytes")

    # change attribution settings with the ETag of your read
    read = get_evaluation.sync_detailed(package.id, client=api)
    answered(read, 200, EvaluationView)
    update = EvaluationSettingsUpdate.from_dict(
        {"attribution_window_days": 14, "model": "EVENTS_FROM_PACKAGE", "email_sent_date": "2026-06-01"}
    )
    saved = update_evaluation.sync_detailed(
        package.id, client=api, body=update, if_match=read.headers["etag"]
    )
    evaluation = answered(saved, 200, EvaluationView)
    assert evaluation.settings.attribution_window_days == 14
    stale = update_evaluation.sync_detailed(package.id, client=api, body=update, if_match='"s-stale"')
    assert stale.status_code == 412, stale.status_code

    # push a cluster to a CRM, then follow the export
    order = ExportRequest(crm_name="hubspot", secret_id="sec_1", container_name="Munich Q3")
    export = answered(
        create_export.sync_detailed(package.id, cluster.tc, client=api, body=order), 202, ExportAccepted
    )
    assert answered(get_export.sync_detailed(export.id, client=api), 200, Export).id == export.id
    exports = answered(list_exports.sync_detailed(client=api, package_id=package.id), 200, ExportPage)
    assert [item.id for item in exports.items] == [export.id]
    done.append(f"export {export.id} {export.status}")

    # webhooks: register (the secret is shown once), send a test event, read the log, recover
    since = time.time() - 1
    subscription = EndpointCreate(
        url=receiver.url, event_types=[WebhookEventType.PACKAGE_DONE, WebhookEventType.PACKAGE_FAILED]
    )
    endpoint = answered(create_webhook.sync_detailed(client=api, body=subscription), 201, EndpointWithSecret)
    assert endpoint.secret.startswith("whsec_")
    sent = answered(send_test_webhook.sync_detailed(endpoint.id, client=api), 202, DeliveryAccepted)
    assert receiver.bodies.get(timeout=DEADLINE_S)["type"] == "webhook.test"
    log = answered(list_webhook_deliveries.sync_detailed(endpoint.id, client=api), 200, DeliveryPage)
    assert sent.id in [delivery.id for delivery in log.items]
    window = RecoverRequest.from_dict({"since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since))})
    answered(
        recover_webhook_deliveries.sync_detailed(endpoint.id, client=api, body=window), 202, RecoverAccepted
    )
    done.append(f"webhook {endpoint.id}: test event received, {len(log.items)} deliveries logged")

    # the live stream of the partner's activity (resumable with Last-Event-ID; "0-0": from the
    # oldest event kept) carries the build's end as the worker announces it
    link = answered(get_activity_stream_link.sync_detailed(client=api), 200, ActivityStreamLink)
    announced = streamed_event(link.stream_url, "0-0", "package.done", package.id)
    # the feed: the same event, once, with the same id, beside the build's package.status events
    feed = answered(
        list_activity.sync_detailed(client=api, package_id=package.id, limit=100), 200, ActivityPage
    )
    assert [item.id for item in feed.data].count(announced) == 1
    assert "package.status" in [item.event.type_ for item in feed.data]
    # a named consumer: the server keeps its position; seek moves it
    consumer = f"walkthrough-{uuid.uuid4().hex[:8]}"
    polled = answered(
        poll_activity_consumer.sync_detailed(consumer, client=api, limit=100), 200, ActivityPage
    )
    assert announced in [item.id for item in polled.data], "a new consumer starts at the oldest kept"
    seek = ConsumerSeek.from_dict({"after": "now"})
    answered(seek_activity_consumer.sync_detailed(consumer, client=api, body=seek), 200, ConsumerPosition)
    after_seek = answered(poll_activity_consumer.sync_detailed(consumer, client=api), 200, ActivityPage)
    assert not {item.id for item in after_seek.data} & {item.id for item in polled.data}
    done.append(
        f"activity: {len(feed.data)} events of package {package.id} in the feed, its end streamed live"
    )
    return done


def streamed_event(stream_url: str, last_event_id: str, event_type: str, package_id: str) -> str:
    """``curl -sN -H "Last-Event-ID: …" "$ACTIVITY"``: read activity events until one of this
    type and package comes; its ``id`` (its ``webhook-id``)."""
    with httpx.Client(timeout=httpx.Timeout(DEADLINE_S)) as plain:
        with plain.stream("GET", stream_url, headers={"Last-Event-ID": last_event_id}) as stream:
            assert stream.status_code == 200, stream.status_code
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    item = json.loads(line[5:])
                    event = item["event"]
                    if event["type"] == event_type and event["data"]["package_id"] == package_id:
                        found: str = item["id"]
                        return found
    raise AssertionError(f"the activity stream ended before {event_type} of {package_id}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--app-python", required=True, help="the BFF's venv python")
    args = parser.parse_args()
    partner = f"client-check-{uuid.uuid4().hex[:8]}"
    api_port, sim_port = free_port(), free_port()
    env = {
        **os.environ,
        "BFF_JWT_SECRET": secrets.token_urlsafe(32),
        "BFF_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",  # the receiver is on 127.0.0.1
        "BFF_POLL_INTERVAL_S": "0.5",
        "BFF_API_METRICS_PORT": "0",
        "BFF_WORKER_METRICS_PORT": "0",
        "SIM_BUILD_SECONDS": "1",
    }
    receiver = Receiver()
    with private_redis() as redis_url:
        if redis_url:
            env["BFF_REDIS_URL"] = redis_url
        stack = Stack(args.app_python, env, api_port, sim_port)
        try:
            stack.wait_ready()
            token = subprocess.run(
                [args.app_python, "-m", "app", "token", "--partner", partner],
                cwd=ROOT, env=env, capture_output=True, text=True, check=True,
            ).stdout.strip()  # fmt: skip
            api = AuthenticatedClient(
                base_url=f"http://127.0.0.1:{api_port}",
                token=token,
                headers={"X-Preferred-Partner-Id": partner},
                timeout=httpx.Timeout(30),
            )
            with api:
                steps = walkthrough(api, receiver)
        except BaseException:
            print("".join(stack.lines[-80:]), file=sys.stderr)
            raise
        finally:
            stack.stop()
            receiver.close()
    for step in steps:
        print(f"client-check: {step}")
    print("client-check: the walkthrough (docs/walkthrough.md) works through the generated Python client")
    return 0


if __name__ == "__main__":
    sys.exit(main())
