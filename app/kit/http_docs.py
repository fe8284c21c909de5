"""What the OpenAPI document says beyond each route: response headers and links.

Routers name the headers an operation sends (``documented("Location", "Retry-After")``);
``X-Request-ID`` on every answer and the rate-limit headers on every authenticated one are
added to the whole document in ``app/api/docs.py``, and so are the links below: where the ids
of an answer lead (a generated client's hints, and how a stateful test reaches real
resources instead of guessing ids).
"""

from __future__ import annotations

from typing import Any

# ``required``: sent on every answer that declares the header (tests/test_response_headers.py
# checks both ways against the live API).
HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "This request's id (yours if it was sane, else ours): quote it when asking for help.",
        "required": True,
        "schema": {"type": "string"},
    },
    "Location": {
        "description": "Where the created or started resource is.",
        "required": True,
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before asking again (or retrying).",
        "schema": {"type": "integer", "minimum": 0},
    },
    "ETag": {
        "description": "The representation's entity tag: send it back as If-None-Match or If-Match.",
        "required": True,
        "schema": {"type": "string"},
    },
    "Cache-Control": {
        "description": "What a cache may do with this answer: private or live data is never reused as is.",
        "schema": {"type": "string"},
    },
    "Content-Disposition": {
        "description": "`attachment` with the file's name (`filename` and RFC 5987 `filename*`).",
        "schema": {"type": "string"},
    },
    "X-Accel-Buffering": {
        "description": "`no`: tells a buffering reverse proxy (nginx) to pass each event on at once.",
        "schema": {"type": "string"},
    },
    "WWW-Authenticate": {
        "description": "The scheme to authenticate with (`Bearer`).",
        "schema": {"type": "string"},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored answer of an earlier request with this key.",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "RateLimit-Policy": {
        "description": 'The partner\'s quota (IETF RateLimit fields draft): `"partner";q=100;w=2`.',
        "schema": {"type": "string"},
    },
    "RateLimit": {
        "description": 'What is left of it and when it is full again, e.g. `"partner";r=42;t=1`.',
        "schema": {"type": "string"},
    },
}


def header_refs(*names: str) -> dict[str, Any]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


# A 409 of an operation run once per key (an Idempotency-Key, a draft's submission): the first
# request is still running (retry after a moment), or its answer was too large to keep for
# replay (then where its resource is, when it made one).
IDEMPOTENCY_CONFLICT_HEADERS: dict[str, Any] = {
    **header_refs("Retry-After"),
    "Location": {
        "description": "Where the first request's resource is, when its answer was too large to replay.",
        "schema": {"type": "string"},
    },
}


def documented(*names: str, description: str | None = None) -> dict[str, Any]:
    """A ``responses=`` entry declaring the headers an answer carries."""
    entry: dict[str, Any] = {"headers": header_refs(*names)}
    if description:
        entry["description"] = description
    return entry


# The query parameters of a signed link (``events_url``, ``csv_url``) as the API makes them:
# a link that does not verify is 401 (malformed or expired) or 403 (not ours).
BODY_ID = "$response.body#/id"
PACKAGE_FOLLOW_UPS = {
    "get_package": "the results view",
    "get_package_status": "its status",
    "stream_package_events": "its status as Server-Sent Events",
    "get_evaluation": "its evaluation",
    "update_evaluation": "change its attribution settings",
    "regenerate_package": "rebuild it once EXPIRED",
    "watch_package": "follow it",
}


def _link(operation_id: str, description: str, **parameters: str) -> dict[str, Any]:
    return {"operationId": operation_id, "description": description, "parameters": parameters}


def _package_links(package_id: str) -> dict[str, Any]:
    return {
        target: _link(target, description, package_id=package_id)
        for target, description in PACKAGE_FOLLOW_UPS.items()
    }


def _draft_links(draft_id: str, etag: str | None) -> dict[str, Any]:
    version = {"header.If-Match": etag} if etag else {}
    return {
        "get_draft": _link("get_draft", "read it again", draft_id=draft_id),
        "replace_draft": _link(
            "replace_draft", "replace it (If-Match: this ETag)", draft_id=draft_id, **version
        ),
        "update_draft": _link("update_draft", "patch it (If-Match: this ETag)", draft_id=draft_id, **version),
        "delete_draft": _link(
            "delete_draft", "forget it (If-Match: this ETag)", draft_id=draft_id, **version
        ),
        "submit_draft": _link("submit_draft", "create its package", draft_id=draft_id),
    }


def _webhook_links(endpoint_id: str) -> dict[str, Any]:
    return {
        target: _link(target, description, endpoint_id=endpoint_id)
        for target, description in {
            "get_webhook": "the endpoint",
            "update_webhook": "change it",
            "delete_webhook": "remove it",
            "rotate_webhook_secret": "a new secret",
            "send_test_webhook": "send it a test event",
            "list_webhook_deliveries": "its delivery log",
            "recover_webhook_deliveries": "re-send what failed",
        }.items()
    }


def _cluster_links(package_id: str, tc: str) -> dict[str, Any]:
    return {
        "download_customer_list": _link(
            "download_customer_list", "a cluster's customers", package_id=package_id, tc=tc
        ),
        "create_export": _link("create_export", "send a cluster to a CRM", package_id=package_id, tc=tc),
    }


def _redeliver(delivery_id: str) -> dict[str, Any]:
    return {
        "redeliver_webhook": _link(
            "redeliver_webhook",
            "send that delivery again",
            endpoint_id="$request.path.endpoint_id",
            delivery_id=delivery_id,
        )
    }


ETAG = "$response.header.ETag"
# operationId → status → links of its answer
LINKS: dict[str, dict[str, dict[str, Any]]] = {
    "list_packages": {
        "200": {
            **_package_links("$response.body#/items/0/id"),
            "merge_packages": {
                "operationId": "merge_packages",
                "description": "merge the first two",
                "requestBody": {"package_ids": ["$response.body#/items/0/id", "$response.body#/items/1/id"]},
            },
        }
    },
    "create_package": {"202": _package_links(BODY_ID)},
    "merge_packages": {"202": _package_links(BODY_ID)},
    "regenerate_package": {"202": _package_links(BODY_ID)},
    "submit_draft": {"202": _package_links(BODY_ID)},
    "watch_package": {"202": _package_links(BODY_ID)},
    "get_package": {"200": _cluster_links(BODY_ID, "$response.body#/clusters/0/tc")},
    "get_evaluation": {"200": _cluster_links("$response.body#/package_id", "$response.body#/clusters/0/tc")},
    "create_export": {"202": {"get_export": _link("get_export", "the export's status", export_id=BODY_ID)}},
    "list_exports": {
        "200": {"get_export": _link("get_export", "one export", export_id="$response.body#/items/0/id")}
    },
    "create_draft": {"201": _draft_links(BODY_ID, ETAG)},
    "list_drafts": {"200": _draft_links("$response.body#/items/0/id", None)},
    "get_draft": {"200": _draft_links(BODY_ID, ETAG)},
    "replace_draft": {"200": _draft_links(BODY_ID, ETAG)},
    "update_draft": {"200": _draft_links(BODY_ID, ETAG)},
    "create_webhook": {"201": _webhook_links(BODY_ID)},
    "list_webhooks": {"200": _webhook_links("$response.body#/items/0/id")},
    "get_webhook": {"200": _webhook_links(BODY_ID)},
    "send_test_webhook": {"202": _redeliver(BODY_ID)},
    "list_webhook_deliveries": {"200": _redeliver("$response.body#/items/0/id")},
}


def add_links(schema: dict[str, Any]) -> None:
    """OpenAPI ``links`` on the answers named in ``LINKS``."""
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for status, links in LINKS.get(operation.get("operationId", ""), {}).items():
                operation["responses"][status]["links"] = links
