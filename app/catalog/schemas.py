"""What the wizard's event search and customer resolution answer.

The guide gives the upstream's answers no shape; these are what the service guarantees to
the SPA: the upstream's answer is checked against them (a bare list is taken as the list, an
object's one list under another name as the list), extra members pass through untouched, and
an answer that does not fit is a 502, so the document never promises more than what is
relayed.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr, model_validator

from app.observability.metrics import count_unknown_upstream_value

MAX_RESULTS = 1000  # events in one page of the picker
MAX_IDS = 100_000  # as many as a create payload's filters take

# An id as the upstream gave it: the guide's event ids are numbers, its customer ids strings.
RelayedId = StrictInt | Annotated[StrictStr, Field(min_length=1)]


def _listed_as(member: str, value: Any) -> Any:
    """The list the answer carries, under ``member``: a bare JSON list is the list itself; an
    object without ``member`` whose one list-valued member is, say, ``events`` or ``items``
    has it renamed (the guide names no shape, so an upstream written from it may pick another
    name); anything else is left for validation to refuse."""
    if isinstance(value, list):
        return {member: value}
    if isinstance(value, dict) and member not in value:
        lists = [name for name, item in value.items() if isinstance(item, list)]
        if len(lists) == 1:
            return {(member if name == lists[0] else name): item for name, item in value.items()}
    return value


def _text_or_null(value: Any) -> Any:
    """A display member the picker shows as text: anything else (say a venue as an object)
    reads as null and is counted, rather than failing the whole search."""
    if value is None or isinstance(value, str):
        return value
    count_unknown_upstream_value("event_search_member")
    return None


DisplayText = Annotated[str | None, BeforeValidator(_text_or_null)]


class EventMatch(BaseModel):
    """One event the picker shows; the upstream's other members are kept."""

    model_config = ConfigDict(extra="allow")

    id: RelayedId = Field(description="pass it in `event_ids` when creating a package")
    title: DisplayText = None
    date: DisplayText = Field(default=None, description="as the upstream writes it (an ISO date here)")
    venue: DisplayText = None


class EventSearchResults(BaseModel):
    """A page of the event search (paging members such as `page`, `total`, `has_more` pass
    through when the upstream sends them)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "results": [
                        {
                            "id": 12345,
                            "title": "Munich shows Q3",
                            "date": "2026-07-02",
                            "venue": "Olympiahalle",
                        }
                    ],
                    "page": 1,
                    "total": 1,
                    "has_more": False,
                }
            ]
        },
    )

    results: list[EventMatch] = Field(max_length=MAX_RESULTS)

    @model_validator(mode="before")
    @classmethod
    def _bare_list(cls, value: Any) -> Any:
        return _listed_as("results", value)


class CustomerResolution(BaseModel):
    """The ids a description resolved to (members such as `result_type` pass through)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [{"ids": ["cust_17", "cust_42"], "result_type": "customers", "language": "de"}]
        },
    )

    ids: list[RelayedId] = Field(
        max_length=MAX_IDS, description="for `filters.included_customers` / `excluded_customers`"
    )

    @model_validator(mode="before")
    @classmethod
    def _bare_list(cls, value: Any) -> Any:
        return _listed_as("ids", value)
