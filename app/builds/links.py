"""Where a followed build's status changes stream: ``GET /v1/packages/{id}/events`` (served by
``app/live``), the path every ``events_url`` signs. Here, in the lowest domain that links to it."""

from __future__ import annotations


def events_segments(package_id: str) -> list[str]:
    return ["v1", "packages", package_id, "events"]
