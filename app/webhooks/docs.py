"""Where the webhook endpoints' answers lead in the OpenAPI document (``links``)."""

from __future__ import annotations

from typing import Any

from app.kit.http_docs import BODY_ID, Links, follow_ups, link

ENDPOINT_FOLLOW_UPS = {
    "get_webhook": "the endpoint",
    "update_webhook": "change it",
    "delete_webhook": "remove it",
    "rotate_webhook_secret": "a new secret",
    "send_test_webhook": "send it a test event",
    "list_webhook_deliveries": "its delivery log",
    "recover_webhook_deliveries": "re-send what failed",
}


def _redeliver(delivery_id: str) -> dict[str, Any]:
    return {
        "redeliver_webhook": link(
            "redeliver_webhook",
            "send that delivery again",
            endpoint_id="$request.path.endpoint_id",
            delivery_id=delivery_id,
        )
    }


LINKS: Links = {
    "create_webhook": {"201": follow_ups(ENDPOINT_FOLLOW_UPS, endpoint_id=BODY_ID)},
    "list_webhooks": {"200": follow_ups(ENDPOINT_FOLLOW_UPS, endpoint_id="$response.body#/items/0/id")},
    "get_webhook": {"200": follow_ups(ENDPOINT_FOLLOW_UPS, endpoint_id=BODY_ID)},
    "send_test_webhook": {"202": _redeliver(BODY_ID)},
    "list_webhook_deliveries": {"200": _redeliver("$response.body#/items/0/id")},
}
