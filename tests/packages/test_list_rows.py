"""A list row is built as a plain dict (``SummaryRow``) for speed, while the document
describes it with the ``PackageSummary`` model: the two name the same fields, in order."""

from __future__ import annotations

from typing import get_type_hints

from app.listing.rows import SummaryRow, summary
from app.packages.schemas import PackageSummary
from app.upstream.models import ListedPackage


def test_the_row_dict_and_the_documented_model_name_the_same_fields_in_order():
    assert list(get_type_hints(SummaryRow)) == list(PackageSummary.model_fields)


def test_a_row_built_from_a_listed_package_validates_as_the_documented_model():
    package = ListedPackage.model_validate(
        {"id": 7, "status": "DONE", "merge_id": "1_2", "events": [{"id": 3, "title": "t"}], "content": {}}
    )
    row = summary(package)
    assert list(row) == list(PackageSummary.model_fields)
    assert PackageSummary.model_validate(row).model_dump() == row
