"""Pure functions that shape upstream payloads into the BFF's views."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import quote

from pydantic import TypeAdapter

from app.builds.links import events_segments
from app.kit.conditional import entity_tag, not_modified
from app.kit.links import EVENTS_LINK_S, LinkSigner
from app.listing.rows import PackageIndex, progress_of, summary
from app.packages.schemas import (
    ClusterCounts,
    ClusterEvaluationView,
    ClusterView,
    EvaluationSettings,
    EvaluationView,
    PackageActions,
    PackageStatusView,
    PackageView,
)
from app.upstream.models import Evaluation, EvaluationDetails, PackageState, UpstreamPackage

VIEW = TypeAdapter(PackageView)
CSV_LINK_S = 15 * 60
_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9 ._()&,+=@-]")


def status_view(package: PackageState, links: LinkSigner, partner_id: str) -> PackageStatusView:
    return PackageStatusView(
        id=package.id,
        status=package.status,
        progress=progress_of(package),
        events_url=links.url(events_segments(package.id), partner_id, EVENTS_LINK_S),
    )


def csv_segments(package_id: str, tc: str) -> list[str]:
    """The path of a cluster's customer list (``download_customer_list``), which ``csv_url`` signs."""
    return ["v1", "packages", package_id, "clusters", tc, "customers.csv"]


def evaluation_settings(details: EvaluationDetails) -> EvaluationSettings:
    return EvaluationSettings(
        attribution_window_days=details.backhaul_evaluation_attribution_window,
        model=details.backhaul_evaluation_model,
        email_sent_date=details.email_sent_date,
    )


def settings_etag(settings: EvaluationSettings) -> str:
    """Strong entity tag of the attribution settings alone: results change as data arrives,
    a tab's edit conflicts only with another change of the settings."""
    return entity_tag(f"s{hashlib.sha256(settings.model_dump_json().encode()).hexdigest()[:24]}")


def evaluation_view(package_id: str, details: EvaluationDetails, evaluation: Evaluation) -> EvaluationView:
    return EvaluationView(
        package_id=package_id,
        settings=evaluation_settings(details),
        clusters=[
            ClusterEvaluationView(tc=tc, customers=c.customers, items=c.items, purchase=c.purchase)
            for tc, c in evaluation.clusters.items()
        ],
    )


def cluster_url(public_base: str, package_id: str, tc: str, leaf: str) -> str:
    return f"{public_base}/v1/packages/{quote(package_id, safe='')}/clusters/{quote(tc, safe='')}/{leaf}"


def package_view(
    package: UpstreamPackage,
    details: EvaluationDetails | None,
    evaluation: Evaluation | None,
    public_base: str,
    links: LinkSigner,
    partner_id: str,
    index: PackageIndex | None = None,
) -> PackageView:
    """The results page: package, settings and per-cluster evaluation side by side. Its
    ``csv_url``s and ``events_url`` are signed links a browser opens without headers (a
    cached view is kept far shorter than they live)."""
    done = package.status == "DONE"
    results = evaluation.clusters if evaluation else {}
    clusters = []
    for tc, content in (package.content or {}).items():
        counts = results.get(tc)
        clusters.append(
            ClusterView(
                tc=tc,
                customers=content.customers,
                items=content.items,
                purchase=content.purchase,
                preview=content.preview,
                evaluation=ClusterCounts(
                    customers=counts.customers, items=counts.items, purchase=counts.purchase
                )
                if counts
                else None,
                csv_url=links.url(csv_segments(package.id, tc), partner_id, CSV_LINK_S),
                exports_url=cluster_url(public_base, package.id, tc, "exports"),
            )
        )
    return PackageView(
        **summary(package, index),  # validated here: events become EventRefs
        filter_settings=package.filter_settings,
        evaluation_settings=evaluation_settings(details) if details else None,
        clusters=clusters,
        events_url=links.url(events_segments(package.id), partner_id, EVENTS_LINK_S),
        actions=PackageActions(
            can_regenerate=package.status == "EXPIRED",
            can_download=done and bool(clusters),
            can_export=done and bool(clusters),
            can_evaluate=done,
            can_merge=done,
        ),
    )


def csv_disposition(tc: str) -> str:
    """``attachment`` with an ASCII-safe quoted filename and the exact RFC 5987 ``filename*``."""
    name = f"{tc}-customers.csv"
    fallback = _FILENAME_UNSAFE.sub("_", name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@dataclass(frozen=True, slots=True)
class RenderedView:
    """A results view serialised once, with its ETag: cached and served as these bytes."""

    etag: str
    body: bytes

    @classmethod
    def of(cls, view: PackageView) -> RenderedView:
        body = VIEW.dump_json(view)
        return cls(entity_tag(hashlib.sha256(body).hexdigest()[:32]), body)

    def stored(self) -> str:
        """``<etag>\n<json>``: one Redis value holds both (compact JSON has no newline)."""
        return f"{self.etag}\n{self.body.decode()}"

    @classmethod
    def from_stored(cls, text: str) -> RenderedView:
        etag, _, body = text.partition("\n")
        return cls(etag, body.encode())

    def matches(self, if_none_match: str | None) -> bool:
        """Whether ``If-None-Match`` names this version: the answer is 304."""
        return not_modified(if_none_match, self.etag)
