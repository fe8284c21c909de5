"""Conditional requests (RFC 9110 §13): entity tags parsed and compared one way everywhere.

``If-None-Match`` compares weakly (``W/"x"`` names ``"x"``) and ``*`` matches whatever exists;
``If-Match`` compares strongly (a weak tag never matches) and a malformed one is a 400, so a
client never overwrites something because we misread its precondition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.kit.errors import BadRequest
from app.kit.params import IF_MATCH_PATTERN

_LIST = re.compile(IF_MATCH_PATTERN)
_TAG = re.compile(r'(W/)?("[^"]*")')


def entity_tag(opaque: str) -> str:
    """A strong entity tag: the opaque value, quoted."""
    return f'"{opaque}"'


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (or is ``*``): the answer is 304. A malformed
    header names nothing, so the full answer is sent."""
    if not if_none_match or _LIST.fullmatch(if_none_match) is None:
        return False
    if if_none_match.strip(" \t") == "*":
        return True
    return any(tag.group(2) == etag for tag in _TAG.finditer(if_none_match))


@dataclass(frozen=True, slots=True)
class Precondition:
    """A parsed ``If-Match``: ``*``, or the strong entity tags it names."""

    any: bool
    tags: frozenset[str]

    def allows(self, etag: str) -> bool:
        return self.any or etag in self.tags


def if_match(header: str, *, example: str) -> Precondition:
    """The precondition an ``If-Match`` header states; 400 when it is not ``*`` or a list of
    entity tags (``example`` shows the caller what one of ours looks like)."""
    if _LIST.fullmatch(header) is None:
        raise BadRequest(f"If-Match must be * or a list of entity tags such as {example}")
    if header.strip(" \t") == "*":
        return Precondition(any=True, tags=frozenset())
    return Precondition(
        any=False, tags=frozenset(tag.group(2) for tag in _TAG.finditer(header) if not tag.group(1))
    )
