"""``python -m app listen``: see a partner's webhooks as the running dev stack sends them.

It starts a receiver on a free loopback port, registers it as one of the partner's webhook
endpoints through the API, checks each delivery's Standard Webhooks signature with the
secret the registration returned, prints it, and removes the endpoint on Ctrl-C (or
SIGTERM). The dev stack allows loopback targets; a production API refuses them.
"""

from __future__ import annotations

import hmac
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO

import httpx

from app.webhooks.events import WebhookEventType
from app.webhooks.signing import sign

MAX_DELIVERY_BYTES = 1024 * 1024
TOLERANCE_S = 300  # Standard Webhooks: a timestamp further off is a replay or a wrong clock


def verify(secret: str, headers: dict[str, str], body: bytes, now: float) -> str | None:
    """Why this delivery is not authentic, or None when one of its signatures matches."""
    msg_id, stamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    if not msg_id or not stamp.isdigit():
        return "no webhook-id or webhook-timestamp header"
    if abs(now - int(stamp)) > TOLERANCE_S:
        return f"timestamp {stamp} is more than {TOLERANCE_S} s off this machine's clock"
    expected = sign(secret, msg_id, int(stamp), body)
    offered = headers.get("webhook-signature", "").split()
    if not any(hmac.compare_digest(expected, entry) for entry in offered):
        return "no signature matches the endpoint's secret"
    return None


class Printer:
    """Prints each delivery once, whole lines at a time (deliveries may arrive in parallel)."""

    def __init__(self, secret: str, out: TextIO) -> None:
        self.secret = secret
        self.out = out
        self.lock = threading.Lock()

    def delivery(self, headers: dict[str, str], body: bytes) -> None:
        problem = verify(self.secret, headers, body, time.time())
        try:
            event: Any = json.loads(body)
        except ValueError:
            event = body.decode(errors="replace")
        kind = event.get("type", "?") if isinstance(event, dict) else "?"
        verdict = "verified" if problem is None else f"NOT VERIFIED: {problem}"
        stamp = time.strftime("%H:%M:%S")
        with self.lock:
            print(f"{stamp}  {kind}  {headers.get('webhook-id', '?')}  {verdict}", file=self.out)
            print(json.dumps(event, indent=2, ensure_ascii=False), file=self.out, flush=True)


def _handler(printer: Printer) -> type[BaseHTTPRequestHandler]:
    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # the name http.server calls
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 <= length <= MAX_DELIVERY_BYTES:
                self.send_error(413)
                return
            body = self.rfile.read(length)
            self.send_response(204)
            self.end_headers()
            printer.delivery({name.lower(): value for name, value in self.headers.items()}, body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the delivery itself is what is printed."""

    return Receiver


def _register(api: httpx.Client, url: str, event_types: list[str]) -> dict[str, Any] | str:
    """The new endpoint (with its secret), or why it could not be registered."""
    body = {"url": url, "event_types": event_types, "description": "python -m app listen"}
    try:
        response = api.post("/v1/webhooks", json=body)
    except httpx.TransportError as exc:
        return f"no API answers at {api.base_url} ({exc.__class__.__name__}): start it with make run first"
    if response.status_code != 201:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        return f"the API refused the endpoint ({response.status_code}): {detail}"
    registered: dict[str, Any] = response.json()
    return registered


def listen(
    *, api: str, partner: str, token: str, event_types: list[str] | None, out: TextIO = sys.stdout
) -> int:
    types = event_types or [kind.value for kind in WebhookEventType]
    headers = {"Authorization": f"Bearer {token}", "X-Preferred-Partner-Id": partner}
    with httpx.Client(base_url=api, headers=headers, timeout=10, trust_env=False) as client:
        printer = Printer("", out)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(printer))
        url = f"http://127.0.0.1:{server.server_address[1]}/webhooks"
        endpoint = _register(client, url, types)
        if isinstance(endpoint, str):
            server.server_close()
            print(endpoint, file=sys.stderr)
            return 1
        printer.secret = endpoint["secret"]
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM cleans up as Ctrl-C does
        print(
            f"Ready: webhooks of partner {partner} ({', '.join(types)}) go to {url}\n"
            f"  endpoint {endpoint['id']}, each delivery's signature checked. Ctrl-C to stop.",
            file=out,
            flush=True,
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
            gone = client.delete(f"/v1/webhooks/{endpoint['id']}")
            print(f"endpoint {endpoint['id']} removed ({gone.status_code})", file=out, flush=True)
    return 0
