"""Signed links: URLs a browser follows without headers (``<a download>``, ``EventSource``).

A link is ``<path>?partner_id=…&exp=…&sig=…`` where ``sig`` is an HMAC-SHA256 (key
``BFF_LINK_SIGNING_KEY``) over the method, the path, the partner and the expiry. It
grants that one request on that one resource for that partner until ``exp``: a tampered
or moved link (another package, cluster or partner) is 403, an expired one 401.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from app.kit.errors import Forbidden, Unauthorized

EVENTS_LINK_S = 3600
MAX_LINK_S = 24 * 3600  # a forged far-future expiry is refused before the signature is checked
MAX_REMEMBERED_LINKS = 4096
# The query of a signed link, as the API makes it (the OpenAPI document declares these).
SIGNED_LINK_PARAMETERS: dict[str, dict[str, Any]] = {
    "partner_id": {"type": "string", "pattern": "^[!-~]([ -~]{0,126}[!-~])?$"},
    "exp": {"type": "string", "pattern": "^[1-9][0-9]{0,11}$", "description": "expiry, Unix seconds"},
    "sig": {"type": "string", "pattern": "^[A-Za-z0-9_-]{43}$", "description": "HMAC-SHA256, base64url"},
}


@dataclass(frozen=True, slots=True)
class LinkSigner:
    key: bytes | None  # None: no key configured, links are plain (headers still work)
    public_base: str
    # Links made lately, by (segments, partner, lifetime): (expiry, URL).
    _made: dict[tuple[tuple[str, ...], str, int], tuple[int, str]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def url(self, segments: Sequence[str], partner_id: str, lifetime_s: int) -> str:
        """The absolute signed GET URL of the path made of ``segments`` (each encoded
        whole: a ``/`` in a cluster name stays inside its segment).

        The expiry is rounded down to a 60th of the lifetime (a minute of an hour's link),
        so every answer within that step carries the same link, made once: a status poll
        does not sign (and the browser's cache sees one URL)."""
        step = max(1, lifetime_s // 60)
        expires = math.floor(time.time() + lifetime_s) // step * step
        remembered = (tuple(segments), partner_id, lifetime_s)
        made = self._made.get(remembered)
        if made is not None and made[0] == expires:
            return made[1]
        encoded = self.public_base + "".join("/" + path_segment(part) for part in segments)
        if self.key is not None:
            path = "".join("/" + part for part in segments)
            signature = self._sign("GET", path, partner_id, expires)
            encoded += f"?{urlencode({'partner_id': partner_id, 'exp': expires, 'sig': signature})}"
        if len(self._made) >= MAX_REMEMBERED_LINKS:
            self._made.clear()
        self._made[remembered] = (expires, encoded)
        return encoded

    def verify(self, method: str, path: str, partner_id: str, exp: str, sig: str) -> float:
        """The link's expiry when ``sig`` is ours for exactly this request; else 401/403."""
        if self.key is None:
            raise Unauthorized("signed links are not enabled here (no BFF_LINK_SIGNING_KEY)")
        if re.fullmatch(SIGNED_LINK_PARAMETERS["exp"]["pattern"], exp) is None:  # one spelling per expiry
            raise Unauthorized("the link is malformed; ask for a fresh one")
        expires = int(exp)
        now = time.time()
        if expires <= now:
            raise Unauthorized("the link has expired; ask for a fresh one")
        if expires > now + MAX_LINK_S:
            raise Forbidden("the link is not valid")
        expected = self._sign(method, path, partner_id, expires)
        if not hmac.compare_digest(expected.encode(), sig.encode("utf-8", "replace")):
            raise Forbidden("the link is not valid for this resource")
        return float(expires)

    def _sign(self, method: str, path: str, partner_id: str, expires: int) -> str:
        message = f"{method.upper()}\n{path}\n{partner_id}\n{expires}".encode()
        digest = hmac.new(self.key or b"", message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def is_well_formed(partner_id: str | None, exp: str | None, sig: str | None) -> bool:
    """Whether a link's query is whole and each part has the shape the API makes."""
    given = {"partner_id": partner_id, "exp": exp, "sig": sig}
    return all(
        value is not None and re.fullmatch(SIGNED_LINK_PARAMETERS[name]["pattern"], value) is not None
        for name, value in given.items()
    )


def path_segment(value: str) -> str:
    """Percent-encode one URL path segment, ``/`` included, never slugified; ``.`` and ``..``
    too, or URL normalisation would drop them. The one encoder of our links and of the
    upstream URLs (the guide: a ``tc`` is URL-encoded, not slugified)."""
    return value.replace(".", "%2E") if value in (".", "..") else quote(value, safe="")
