"""Demo accounts: partners in ``BFF_DEMO_PARTNER_IDS`` are served from a shipped fixture.

The guide's reference webapp skips the API for demo partners and renders a mock
results file; here the same parity lives at the upstream boundary, so every BFF
endpoint works for a demo partner without a single upstream call. Demo data is
read-only: creating, merging, regenerating, saving settings or exporting is a 403.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from functools import cache
from importlib import resources
from typing import Any

from app.kit.errors import Forbidden
from app.upstream.client import CallContext, PackageBuilderClient, Sized
from app.upstream.errors import UpstreamRejected
from app.upstream.models import (
    CreatePackagePayload,
    Evaluation,
    EvaluationDetails,
    ExportPayload,
    ListedPackage,
    PackageHead,
    PackageRef,
    PackageState,
    UpstreamPackage,
)

READ_ONLY = "demo accounts are read-only; this action needs a real partner account"


@cache
def _fixture() -> dict[str, Any]:
    text = resources.files("app.upstream").joinpath("demo_fixture.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


class DemoCustomerList:
    """A generated CSV with the cluster's customer count, shaped like the upstream's."""

    headers = {"content-type": "text/csv; charset=utf-8"}

    def __init__(self, tc: str, customers: int) -> None:
        self._tc, self._customers = tc, customers

    async def chunks(self) -> AsyncIterator[bytes]:
        yield b"customer_id,email,first_name,last_name\n"
        for n in range(1, self._customers + 1):
            yield f"demo_{n},demo{n}@example.com,Demo,Customer {n}\n".encode()

    async def aclose(self) -> None:
        return None


class DemoRoutingClient(PackageBuilderClient):
    """The real client, except for demo partners, who get the fixture."""

    def __init__(self, *args: Any, demo_partner_ids: Sequence[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._demo_ids = frozenset(demo_partner_ids)

    def _is_demo(self, ctx: CallContext) -> bool:
        return ctx.partner_id in self._demo_ids

    def serves_fixture(self, partner_id: str) -> bool:
        return partner_id in self._demo_ids

    @staticmethod
    def _package(package_id: str) -> dict[str, Any]:
        for package in _fixture()["packages"]:
            if package["id"] == package_id:
                return dict(package)
        raise UpstreamRejected(404, f"package {package_id!r} was not found")

    async def list_packages(self, ctx: CallContext) -> list[ListedPackage]:
        if not self._is_demo(ctx):
            return await super().list_packages(ctx)
        return [ListedPackage.model_validate(p) for p in _fixture()["packages"]]

    async def list_packages_body(self, ctx: CallContext) -> bytes:
        if not self._is_demo(ctx):
            return await super().list_packages_body(ctx)
        return json.dumps(_fixture()["packages"]).encode()

    async def get_package(self, ctx: CallContext, package_id: str) -> UpstreamPackage:
        if not self._is_demo(ctx):
            return await super().get_package(ctx, package_id)
        return UpstreamPackage.model_validate(self._package(package_id))

    async def list_package_heads(self, ctx: CallContext) -> Sized[list[PackageHead]]:
        if not self._is_demo(ctx):
            return await super().list_package_heads(ctx)
        return Sized([PackageHead.model_validate(p) for p in _fixture()["packages"]], 0)

    async def get_package_sized(self, ctx: CallContext, package_id: str) -> Sized[UpstreamPackage]:
        if not self._is_demo(ctx):
            return await super().get_package_sized(ctx, package_id)
        return Sized(UpstreamPackage.model_validate(self._package(package_id)), 0)

    async def get_package_state(self, ctx: CallContext, package_id: str) -> PackageState:
        if not self._is_demo(ctx):
            return await super().get_package_state(ctx, package_id)
        return PackageState.model_validate(self._package(package_id))

    async def get_evaluation_details(self, ctx: CallContext, package_id: str) -> EvaluationDetails:
        if not self._is_demo(ctx):
            return await super().get_evaluation_details(ctx, package_id)
        self._package(package_id)
        return EvaluationDetails.model_validate(_fixture()["evaluation_details"])

    async def get_evaluation(self, ctx: CallContext, package_id: str) -> Evaluation:
        if not self._is_demo(ctx):
            return await super().get_evaluation(ctx, package_id)
        self._package(package_id)
        evaluation = _fixture()["evaluations"].get(package_id)
        if evaluation is None:
            raise UpstreamRejected(409, "the package has no evaluation yet")
        return Evaluation.model_validate(evaluation)

    async def stream_customer_list(self, ctx: CallContext, package_id: str, tc: str) -> Any:
        if not self._is_demo(ctx):
            return await super().stream_customer_list(ctx, package_id, tc)
        content = self._package(package_id).get("content") or {}
        if tc not in content:
            raise UpstreamRejected(404, f"cluster {tc!r} was not found")
        return DemoCustomerList(tc, int(content[tc]["customers"]))

    async def search_events(self, ctx: CallContext, *, search: str, page: int, since: str | None) -> Any:
        if not self._is_demo(ctx):
            return await super().search_events(ctx, search=search, page=page, since=since)
        return _fixture()["events"]

    async def ids_from_nl_description(
        self, ctx: CallContext, *, description: str, result_type: str | None, language: str | None
    ) -> Any:
        if not self._is_demo(ctx):
            return await super().ids_from_nl_description(
                ctx, description=description, result_type=result_type, language=language
            )
        return {"ids": ["demo_1", "demo_2", "demo_3"], "result_type": result_type, "language": language}

    async def create_package(self, ctx: CallContext, payload: CreatePackagePayload) -> PackageRef:
        if self._is_demo(ctx):
            raise Forbidden(READ_ONLY)
        return await super().create_package(ctx, payload)

    async def merge_packages(self, ctx: CallContext, package_ids: Sequence[str]) -> PackageRef:
        if self._is_demo(ctx):
            raise Forbidden(READ_ONLY)
        return await super().merge_packages(ctx, package_ids)

    async def put_evaluation_details(
        self, ctx: CallContext, package_id: str, details: EvaluationDetails
    ) -> None:
        if self._is_demo(ctx):
            raise Forbidden(READ_ONLY)
        await super().put_evaluation_details(ctx, package_id, details)

    async def regenerate_package(self, ctx: CallContext, package_id: str) -> None:
        if self._is_demo(ctx):
            raise Forbidden(READ_ONLY)
        await super().regenerate_package(ctx, package_id)

    async def create_export(self, ctx: CallContext, payload: ExportPayload) -> dict[str, Any]:
        if self._is_demo(ctx):
            raise Forbidden(READ_ONLY)
        return await super().create_export(ctx, payload)
