"""Path parameter and header types shared by the routers of several domains."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Path

PACKAGE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
PACKAGE_ID_MAX_LENGTH = 128  # what the pattern allows, written out for the document's readers
PackageId = Annotated[
    str, Path(pattern=PACKAGE_ID_PATTERN, max_length=PACKAGE_ID_MAX_LENGTH, description="upstream package id")
]
ClusterName = Annotated[str, Path(min_length=1, max_length=512, description="cluster name (tc), URL-encoded")]

# ``If-Match``: ``*`` or a list of entity tags (RFC 9110); the document and the parsers share it.
IF_MATCH_PATTERN = r'^[ \t]*(\*|(W/)?"[^"]*"[ \t]*(,[ \t]*(W/)?"[^"]*"[ \t]*)*,?)[ \t]*$'
# ``If-Match`` / ``If-None-Match``: our tags are short and a client sends one or a few; a longer
# header is refused (422) before any parsing.
ENTITY_TAGS_MAX_LENGTH = 1024
IfNoneMatch = Annotated[
    str | None,
    Header(
        max_length=ENTITY_TAGS_MAX_LENGTH,
        description="the `ETag` of your last read: 304 with no body while it still matches",
    ),
]
