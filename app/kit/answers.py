"""Answers serialised once from the model the route documents."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Response
from pydantic import BaseModel


def model_response(model: BaseModel, headers: Mapping[str, str] | None = None) -> Response:
    """``model`` as JSON, serialised once. A route that returns the model itself has it
    validated again against its ``response_model`` before it is serialised; a model our own
    code built needs neither, so such a route keeps ``response_model`` for its document only
    and answers with this."""
    return Response(model.model_dump_json(), media_type="application/json", headers=headers)
