"""Path parameter types shared by the routers of several domains."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

PACKAGE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
PackageId = Annotated[str, Path(pattern=PACKAGE_ID_PATTERN, description="upstream package id")]
ClusterName = Annotated[str, Path(min_length=1, max_length=512, description="cluster name (tc), URL-encoded")]

# ``If-Match``: ``*`` or a list of entity tags (RFC 9110); the document and the parsers share it.
IF_MATCH_PATTERN = r'^[ \t]*(\*|(W/)?"[^"]*"[ \t]*(,[ \t]*(W/)?"[^"]*"[ \t]*)*,?)[ \t]*$'
