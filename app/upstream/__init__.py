"""The only code that talks to the Package Builder API and the data-integrations layer."""

from app.upstream.client import CallContext, CustomerListStream, PackageBuilderClient
from app.upstream.errors import (
    UpstreamBadResponse,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)

__all__ = [
    "CallContext",
    "CustomerListStream",
    "PackageBuilderClient",
    "UpstreamBadResponse",
    "UpstreamError",
    "UpstreamRejected",
    "UpstreamTimeout",
    "UpstreamUnavailable",
]
