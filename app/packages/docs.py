"""Where the packages' answers lead in the OpenAPI document (``links``)."""

from __future__ import annotations

from typing import Any

from app.kit.http_docs import BODY_ID, Links, follow_ups, link

PACKAGE_FOLLOW_UPS = {
    "get_package": "the results view",
    "get_package_status": "its status",
    "stream_package_events": "its status as Server-Sent Events",
    "get_evaluation": "its evaluation",
    "update_evaluation": "change its attribution settings",
    "regenerate_package": "rebuild it once EXPIRED",
    "watch_package": "follow it",
}
# Every answer that is a package accepted for building (its id in the body) leads to its
# follow-ups, whichever domain's operation it is: a draft's submission and a watch (which
# sits below this domain and cannot name these links) answer a package too.
PACKAGE_ANSWERS = ("create_package", "merge_packages", "regenerate_package", "submit_draft", "watch_package")


def package_links(package_id: str) -> dict[str, Any]:
    return follow_ups(PACKAGE_FOLLOW_UPS, package_id=package_id)


def _cluster_links(package_id: str, tc: str) -> dict[str, Any]:
    return {
        "download_customer_list": link(
            "download_customer_list", "a cluster's customers", package_id=package_id, tc=tc
        ),
        "create_export": link("create_export", "send a cluster to a CRM", package_id=package_id, tc=tc),
    }


LINKS: Links = {
    "list_packages": {
        "200": {
            **package_links("$response.body#/items/0/id"),
            "merge_packages": {
                "operationId": "merge_packages",
                "description": "merge the first two",
                "requestBody": {"package_ids": ["$response.body#/items/0/id", "$response.body#/items/1/id"]},
            },
        }
    },
    **{operation: {"202": package_links(BODY_ID)} for operation in PACKAGE_ANSWERS},
    "get_package": {"200": _cluster_links(BODY_ID, "$response.body#/clusters/0/tc")},
    "get_evaluation": {"200": _cluster_links("$response.body#/package_id", "$response.body#/clusters/0/tc")},
}
