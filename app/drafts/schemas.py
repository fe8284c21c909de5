"""Draft shapes: the create wizard's step and its partial create payload."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.kit.types import absent_not_null, examples


class DraftStep(StrEnum):
    """The create wizard's steps, in order: Select Events, Targeting + Customer Segmentation,
    Preview."""

    EVENTS = "events"
    TARGETING = "targeting"
    PREVIEW = "preview"


MAX_STATE_DEPTH = 32


def json_depth(value: Any) -> int:
    """Nesting depth of a JSON value, without recursion (so no input can exhaust the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
    return deepest


def _shallow(state: dict[str, Any]) -> dict[str, Any]:
    if json_depth(state) > MAX_STATE_DEPTH:
        raise ValueError(f"state must not nest deeper than {MAX_STATE_DEPTH} levels")
    return state


State = Annotated[dict[str, Any], AfterValidator(_shallow)]


STATE_DESCRIPTION = (
    "the wizard's partial create payload (title, event_ids, targeting_mode, "
    "num_packages, n_top_events, filters); any JSON object"
)


class DraftCreate(BaseModel):
    """Body of ``POST /v1/drafts``."""

    model_config = ConfigDict(extra="forbid")

    step: DraftStep = DraftStep.EVENTS
    state: State = Field(default_factory=dict, description=STATE_DESCRIPTION)


class DraftReplace(BaseModel):
    """Body of ``PUT /v1/drafts/{id}``: replaces step and state."""

    model_config = ConfigDict(extra="forbid")

    step: DraftStep
    state: State = Field(description=STATE_DESCRIPTION)


class DraftPatch(BaseModel):
    """Body of ``PATCH /v1/drafts/{id}`` (JSON merge patch, RFC 7396): ``step`` replaces the
    step; ``state`` is merged into the state (a ``null`` member removes that member)."""

    model_config = ConfigDict(extra="forbid")

    step: DraftStep | None = Field(default=None, json_schema_extra=absent_not_null)
    state: State | None = Field(default=None, description="null clears the state")


DRAFT_EXAMPLE: dict[str, Any] = {
    "id": "5f6cc79bfa984c518586ea3f7f931116",
    "step": "preview",
    "state": {"title": "Munich shows Q3", "event_ids": [12345], "targeting_mode": "lookalike"},
    "version": 2,
    "created_at": "2026-11-28T10:00:00Z",
    "updated_at": "2026-11-28T10:02:00Z",
    "expires_at": "2026-12-28T10:02:00Z",
    "package_id": None,
}


class DraftView(BaseModel):
    model_config = examples(DRAFT_EXAMPLE)

    id: str
    step: DraftStep
    state: dict[str, Any]
    version: int = Field(description="bumped by every change; the ETag is derived from it")
    created_at: dt.datetime
    updated_at: dt.datetime
    expires_at: dt.datetime = Field(description="unless used again before then (sliding expiry)")
    package_id: str | None = Field(description="set once the draft was submitted")


class DraftList(BaseModel):
    model_config = examples({"items": [DRAFT_EXAMPLE]})

    items: list[DraftView] = Field(description="most recently changed first")
