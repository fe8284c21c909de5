"""Request bodies, validated as strictly as the guide is precise (extra fields are refused)."""

from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

from app.simulator.csv_stream import MAX_CUSTOMERS

Status = Literal["INITIALIZING", "INPROGRESS", "DONE", "FAILED", "EXPIRED"]
EvaluationModel = Literal["EVENTS_FROM_PACKAGE", "ALL_EVENTS"]


def _iso_date(value: str) -> str:
    if len(value) != 10:
        raise ValueError("expected an ISO date YYYY-MM-DD")
    date.fromisoformat(value)
    return value


IsoDate = Annotated[StrictStr, AfterValidator(_iso_date)]
Amount = Annotated[float, Field(strict=True)]
NonEmpty = Annotated[StrictStr, Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Filters(_Strict):
    included_customers: list[StrictStr | StrictInt]
    excluded_customers: list[StrictStr | StrictInt]
    exclude_buying_behavior_above: Amount | None
    exclude_buying_behavior_below: Amount | None
    exclude_old_purchases_before: IsoDate | None
    exclude_recent_purchases_after: IsoDate | None
    exclude_ticket_categories: list[StrictStr]


class CreatePackage(_Strict):
    """The guide's create payload, field for field."""

    num_packages: Annotated[StrictInt, Field(ge=1, le=20)]
    n_top_events: Annotated[StrictInt, Field(ge=1)]
    event_ids: list[StrictInt]
    package_title: NonEmpty
    targeting_mode: NonEmpty
    filters: Filters


class EvaluationDetails(_Strict):
    """PUT replaces all three settings, so all three keys are required (the date may be null)."""

    backhaul_evaluation_attribution_window: Annotated[StrictInt, Field(ge=1, le=365)]
    backhaul_evaluation_model: EvaluationModel
    email_sent_date: IsoDate | None


class ExportRequest(_Strict):
    crm_name: NonEmpty
    secret_id: NonEmpty
    container_name: NonEmpty
    packageId: NonEmpty  # the data-integrations layer's own spelling
    tc: NonEmpty


class EventRef(BaseModel):
    id: int | str
    title: str


class ForcedPackage(_Strict):
    """`POST /_sim/packages`: a package created directly in a given (forced) state."""

    partner_id: NonEmpty
    status: Status
    title: str | None = None
    progress: Annotated[int, Field(ge=0, le=100)] | None = None
    clusters: Annotated[list[NonEmpty], Field(min_length=1, max_length=50)] | None = None
    customers_per_cluster: Annotated[int, Field(ge=0, le=MAX_CUSTOMERS)] | None = None
    merge_id: str | None = None
    events: list[EventRef] | None = None
    targeting_mode: NonEmpty = "lookalike"

    @field_validator("clusters")
    @classmethod
    def _distinct(cls, clusters: list[str] | None) -> list[str] | None:
        if clusters is not None and len(set(clusters)) != len(clusters):
            raise ValueError("cluster names must be distinct")
        return clusters


class BulkPackages(_Strict):
    """`POST /_sim/packages/bulk`: many packages of one partner at once (benchmarks): forced
    to ``status``, or real builds lasting a random time in ``build_seconds`` [min, max]."""

    partner_id: NonEmpty
    count: Annotated[int, Field(ge=1, le=100_000)]
    status: Status | None = None
    progress: Annotated[int, Field(ge=0, le=100)] | None = None
    build_seconds: (
        Annotated[list[Annotated[float, Field(ge=0)]], Field(min_length=2, max_length=2)] | None
    ) = None


class ForceStatus(_Strict):
    status: Status
    progress: Annotated[int, Field(ge=0, le=100)] | None = None


class ConfigPatch(_Strict):
    build_seconds: Annotated[float, Field(ge=0)] | None = None
    expire_after_s: Annotated[float, Field(ge=0)] | None = None
    fail_rate: Annotated[float, Field(ge=0, le=1)] | None = None
    seed_partners: bool | None = None
