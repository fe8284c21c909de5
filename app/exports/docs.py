"""Where the exports' answers lead in the OpenAPI document (``links``)."""

from __future__ import annotations

from app.kit.http_docs import BODY_ID, Links, link

LINKS: Links = {
    "create_export": {"202": {"get_export": link("get_export", "the export's status", export_id=BODY_ID)}},
    "list_exports": {
        "200": {"get_export": link("get_export", "one export", export_id="$response.body#/items/0/id")}
    },
}
