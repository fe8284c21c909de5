"""Where the drafts' answers lead in the OpenAPI document (``links``)."""

from __future__ import annotations

from typing import Any

from app.kit.http_docs import BODY_ID, ETAG, Links, link


def _draft_links(draft_id: str, etag: str | None) -> dict[str, Any]:
    version = {"header.If-Match": etag} if etag else {}
    return {
        "get_draft": link("get_draft", "read it again", draft_id=draft_id),
        "replace_draft": link(
            "replace_draft", "replace it (If-Match: this ETag)", draft_id=draft_id, **version
        ),
        "update_draft": link("update_draft", "patch it (If-Match: this ETag)", draft_id=draft_id, **version),
        "delete_draft": link("delete_draft", "forget it (If-Match: this ETag)", draft_id=draft_id, **version),
        "submit_draft": link("submit_draft", "create its package", draft_id=draft_id),
    }


LINKS: Links = {
    "create_draft": {"201": _draft_links(BODY_ID, ETAG)},
    "list_drafts": {"200": _draft_links("$response.body#/items/0/id", None)},
    "get_draft": {"200": _draft_links(BODY_ID, ETAG)},
    "replace_draft": {"200": _draft_links(BODY_ID, ETAG)},
    "update_draft": {"200": _draft_links(BODY_ID, ETAG)},
}
