"""The BFF's package shapes: what the SPA and internal services read and send."""

from __future__ import annotations

from typing import Annotated, Any

from annotated_types import Ge, Le
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from app.kit.params import PACKAGE_ID_MAX_LENGTH, PACKAGE_ID_PATTERN
from app.kit.types import DATE_TIME_PATTERN, IsoDate, JsonInt, examples
from app.upstream.models import AttributionModel, PackageStatus

# As the upstream models leave them (app/upstream/models.py): RFC 3339, or null.
CreatedAt = Annotated[
    str | None,
    WithJsonSchema(
        {"anyOf": [{"type": "string", "format": "date-time", "pattern": DATE_TIME_PATTERN}, {"type": "null"}]}
    ),
]
SentDate = Annotated[
    str | None, WithJsonSchema({"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]})
]
# Examples of the answers (the OpenAPI document shows them; tests/test_examples.py checks each
# against its schema).
BASE = "https://bff.example/v1/packages/pkg_555"
EVENTS_URL = f"{BASE}/events?partner_id=partner-1&exp=1767225600&sig=Zx3kq0T9b1n8Qm4VwYp2sA"
CSV_URL = f"{BASE}/clusters/family_outings_munich/customers.csv?partner_id=partner-1&exp=1767225600&sig=Q2n8r"
SUMMARY_EXAMPLE: dict[str, Any] = {
    "id": "pkg_555",
    "title": "Munich shows Q3",
    "status": "DONE",
    "progress": 100,
    "merge_id": None,
    "merged_from": [],
    "created_at": "2026-05-15T10:30:00Z",
    "targeting_mode": "lookalike",
    "events": [{"id": "12345", "title": "Munich shows Q3 opening night"}],
}
SETTINGS_EXAMPLE: dict[str, Any] = {
    "attribution_window_days": 14,
    "model": "EVENTS_FROM_PACKAGE",
    "email_sent_date": "2026-06-01",
}
COUNTS_EXAMPLE: dict[str, Any] = {"customers": 37, "items": 81, "purchase": 3702.5}

NOT_BLANK = r"\S"  # some character that is not whitespace (ids and titles are stripped)
MAX_NUMERIC_ID = 10**18 - 1
CUSTOMER_ID_MAX_LENGTH = 256
TICKET_CATEGORY_MAX_LENGTH = 200
# A number of up to 18 digits, as the upstream's ids are.
NumericId = Annotated[
    JsonInt,
    Ge(0),
    Le(MAX_NUMERIC_ID),
    WithJsonSchema({"type": "integer", "minimum": 0, "maximum": MAX_NUMERIC_ID}),
]
# A customer id as the upstream takes it: a number, or a non-blank string (digits become a
# number).
Id = NumericId | Annotated[str, Field(pattern=NOT_BLANK, max_length=CUSTOMER_ID_MAX_LENGTH)]
# An event id: the guide's ids are numbers; a string of digits is taken as one.
EventId = NumericId | Annotated[str, Field(pattern=r"^[0-9]{1,18}$", max_length=18)]
# Amounts are numbers, never booleans or numeric strings (pydantic would take both).
Amount = Annotated[float, Field(strict=True, ge=0)]
Count = JsonInt


def _normalise_ids(values: list[int | str], field: str) -> list[int | str]:
    """Digit strings become ints (the guide's ids are numbers); blanks and repeats are refused."""
    out: list[int | str] = []
    for value in values:
        if isinstance(value, str):
            value = value.strip()
            if not value:
                raise ValueError(f"{field} must not contain empty ids")
            if value.isdigit() and len(value) < 19:
                value = int(value)
        out.append(value)
    if len({str(v) for v in out}) != len(out):
        raise ValueError(f"{field} must not contain the same id twice")
    return out


class PackageFilters(BaseModel):
    """The seed's seven filters, validated so the upstream never sees nonsense."""

    model_config = ConfigDict(extra="forbid")

    included_customers: list[Id] = Field(
        default_factory=list, max_length=100_000, json_schema_extra={"uniqueItems": True}, examples=[[]]
    )
    excluded_customers: list[Id] = Field(
        default_factory=list,
        max_length=100_000,
        json_schema_extra={"uniqueItems": True},
        description="no id may be both included and excluded",
        examples=[["cust_17"]],
    )
    exclude_buying_behavior_above: Amount | None = None
    exclude_buying_behavior_below: Amount | None = Field(
        default=None, description="at most `exclude_buying_behavior_above` when both are set"
    )
    exclude_old_purchases_before: IsoDate | None = Field(
        default=None, description="on or before `exclude_recent_purchases_after` when both are set"
    )
    exclude_recent_purchases_after: IsoDate | None = None
    exclude_ticket_categories: list[Annotated[str, Field(max_length=TICKET_CATEGORY_MAX_LENGTH)]] = Field(
        default_factory=list, max_length=1000, examples=[["VIP"]]
    )

    @field_validator("included_customers", "excluded_customers")
    @classmethod
    def _ids(cls, values: list[int | str], info: Any) -> list[int | str]:
        return _normalise_ids(values, info.field_name)

    @model_validator(mode="after")
    def _consistent(self) -> PackageFilters:
        below, above = self.exclude_buying_behavior_below, self.exclude_buying_behavior_above
        if below is not None and above is not None and below > above:
            raise ValueError("exclude_buying_behavior_below must be <= exclude_buying_behavior_above")
        before, after = self.exclude_old_purchases_before, self.exclude_recent_purchases_after
        if before is not None and after is not None and before > after:
            raise ValueError(
                "exclude_old_purchases_before must be on or before exclude_recent_purchases_after"
            )
        both = {str(v) for v in self.included_customers} & {str(v) for v in self.excluded_customers}
        if both:
            sample = ", ".join(sorted(both)[:5])
            raise ValueError(f"customers both included and excluded: {sample}")
        return self


class CreatePackageRequest(BaseModel):
    """Body of ``POST /v1/packages``: the wizard's result."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200, pattern=NOT_BLANK, examples=["Munich shows Q3"])
    event_ids: list[EventId] = Field(
        min_length=1, max_length=500, json_schema_extra={"uniqueItems": True}, examples=[[12345, 23456]]
    )
    targeting_mode: str = Field(min_length=1, max_length=64, examples=["lookalike"])
    num_packages: Count = Field(default=3, ge=1, le=20)
    n_top_events: Count = Field(default=3, ge=1, le=50)
    filters: PackageFilters = Field(default_factory=PackageFilters)

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("title must not be blank")
        return value.strip()

    @field_validator("event_ids")
    @classmethod
    def _event_ids(cls, values: list[int | str]) -> list[int | str]:
        return _normalise_ids(values, "event_ids")


def _digits_of_number(value: Any) -> Any:
    """A package id sent as a number is taken as its digits (only those a JSON number holds)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_NUMERIC_ID:
        return str(value)
    return value


PackageRef = Annotated[
    str,
    BeforeValidator(_digits_of_number),
    Field(pattern=PACKAGE_ID_PATTERN, max_length=PACKAGE_ID_MAX_LENGTH),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": MAX_NUMERIC_ID},
                {"type": "string", "pattern": PACKAGE_ID_PATTERN, "maxLength": PACKAGE_ID_MAX_LENGTH},
            ]
        }
    ),
]


class MergePackagesRequest(BaseModel):
    """Body of ``POST /v1/packages/merge``."""

    model_config = ConfigDict(extra="forbid")

    package_ids: list[PackageRef] = Field(
        min_length=2,
        max_length=50,
        json_schema_extra={"uniqueItems": True},
        description="two or more distinct package ids",
        examples=[["1011", "1012"]],
    )

    @field_validator("package_ids")
    @classmethod
    def _distinct(cls, values: list[str]) -> list[str]:
        if len(set(values)) != len(values):
            raise ValueError("package_ids must be distinct")
        return values


class EventRef(BaseModel):
    model_config = examples({"id": "12345", "title": "Munich shows Q3 opening night"})

    id: str
    title: str | None = None


class PackageSummary(BaseModel):
    """One row of the list."""

    model_config = examples(SUMMARY_EXAMPLE)

    id: str
    title: str | None
    status: PackageStatus
    progress: int | None
    merge_id: str | None
    merged_from: list[str]
    created_at: CreatedAt
    targeting_mode: str | None
    events: list[EventRef]


class PackageList(BaseModel):
    model_config = examples({"items": [SUMMARY_EXAMPLE], "next_cursor": None})

    items: list[PackageSummary]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at the end")


class PackageAccepted(BaseModel):
    """202 answer of create, merge and regenerate; poll ``status_url`` or open ``events_url``."""

    model_config = examples(
        {
            "id": "pkg_555",
            "status": "INITIALIZING",
            "status_url": f"{BASE}/status",
            "events_url": EVENTS_URL,
            "results_url": BASE,
        }
    )

    id: str
    status: PackageStatus
    status_url: str
    events_url: str
    results_url: str


class PackageStatusView(BaseModel):
    model_config = examples(
        {"id": "pkg_555", "status": "INPROGRESS", "progress": 40, "events_url": EVENTS_URL}
    )

    id: str
    status: PackageStatus
    progress: int | None
    events_url: str = Field(description="signed Server-Sent Events link (about an hour), for EventSource")


class EvaluationSettings(BaseModel):
    """Attribution settings, in the BFF's words."""

    model_config = examples(SETTINGS_EXAMPLE)

    attribution_window_days: int | None
    model: AttributionModel | None
    email_sent_date: SentDate


class EvaluationSettingsUpdate(BaseModel):
    """Body of ``PUT /v1/packages/{id}/evaluation``."""

    model_config = ConfigDict(extra="forbid")

    attribution_window_days: Count = Field(ge=1, le=365, examples=[14])
    model: AttributionModel = Field(examples=["EVENTS_FROM_PACKAGE"])
    email_sent_date: IsoDate | None = Field(default=None, examples=["2026-06-01"])


class ClusterCounts(BaseModel):
    model_config = examples(COUNTS_EXAMPLE)

    customers: int
    items: int
    purchase: float


class ClusterEvaluationView(ClusterCounts):
    model_config = examples({"tc": "family_outings_munich", **COUNTS_EXAMPLE})

    tc: str


class EvaluationView(BaseModel):
    model_config = examples(
        {
            "package_id": "pkg_555",
            "settings": SETTINGS_EXAMPLE,
            "clusters": [{"tc": "family_outings_munich", **COUNTS_EXAMPLE}],
        }
    )

    package_id: str
    settings: EvaluationSettings
    clusters: list[ClusterEvaluationView]


CLUSTER_EXAMPLE: dict[str, Any] = {
    "tc": "family_outings_munich",
    "customers": 184,
    "items": 412,
    "purchase": 18540,
    "preview": [{"id": "cust_1", "email": "cust_1@example.com", "purchases": 3}],
    "evaluation": COUNTS_EXAMPLE,
    "csv_url": CSV_URL,
    "exports_url": f"{BASE}/clusters/family_outings_munich/exports",
}
ACTIONS_EXAMPLE: dict[str, Any] = {
    "can_regenerate": False,
    "can_download": True,
    "can_export": True,
    "can_evaluate": True,
    "can_merge": True,
}


class ClusterView(ClusterCounts):
    model_config = examples(CLUSTER_EXAMPLE)

    tc: str
    preview: list[dict[str, Any]]
    evaluation: ClusterCounts | None
    csv_url: str
    exports_url: str


class PackageActions(BaseModel):
    model_config = examples(ACTIONS_EXAMPLE)

    can_regenerate: bool
    can_download: bool
    can_export: bool
    can_evaluate: bool
    can_merge: bool


class PackageView(BaseModel):
    """The results page in one call."""

    model_config = examples(
        {
            **SUMMARY_EXAMPLE,
            "filter_settings": {
                "exclude_old_purchases_before": "2024-01-01",
                "exclude_ticket_categories": ["VIP"],
            },
            "evaluation_settings": SETTINGS_EXAMPLE,
            "clusters": [CLUSTER_EXAMPLE],
            "events_url": EVENTS_URL,
            "actions": ACTIONS_EXAMPLE,
        }
    )

    id: str
    title: str | None
    status: PackageStatus
    progress: int | None
    merge_id: str | None
    merged_from: list[str]
    created_at: CreatedAt
    targeting_mode: str | None
    events: list[EventRef]
    filter_settings: dict[str, Any] | None
    evaluation_settings: EvaluationSettings | None
    clusters: list[ClusterView]
    events_url: str = Field(description="signed Server-Sent Events link (about an hour), for EventSource")
    actions: PackageActions
