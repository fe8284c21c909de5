"""The customer list CSV of one cluster, generated on the fly in constant memory.

Rows come in blocks of 1000 that differ only in a fixed-width block number, so each ~60 KiB
chunk is one `bytes.replace` on a prebuilt template, and the exact Content-Length is simple
arithmetic however many millions of rows a cluster has.
"""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from app.simulator.catalog import FIRST_NAMES, LAST_NAMES

HEADER = b"customer_id,email,first_name,last_name,purchases,total_spent\n"
BLOCK_ROWS = 1000
MAX_CUSTOMERS = 10**9 - 1  # six block digits + three row digits
_PLACEHOLDER = "\x00" * 6  # stands for the block number in the template; never in real data
_PLACEHOLDER_BYTES = _PLACEHOLDER.encode()


def _row_fields(row: int) -> tuple[str, str, int, str]:
    """first_name, last_name, purchases, total_spent of the row'th customer in a block."""
    purchases = 1 + (row * 7) % 9
    total_spent = f"{purchases * (20 + (row * 13) % 80)}.00"
    return (
        FIRST_NAMES[row % len(FIRST_NAMES)],
        LAST_NAMES[(row * 5) % len(LAST_NAMES)],
        purchases,
        total_spent,
    )


def _customer_id(package_id: str, cluster_index: int, block: str, row: int) -> str:
    return f"cust_{package_id}_{cluster_index}_{block}{row:03d}"


def preview(package_id: str, cluster_index: int, customers: int, limit: int = 5) -> list[dict[str, Any]]:
    """The first rows of the CSV as JSON objects (the package payload's `preview`)."""
    rows = []
    for index in range(min(limit, customers)):
        block, row = divmod(index, BLOCK_ROWS)
        first, last, purchases, spent = _row_fields(row)
        customer_id = _customer_id(package_id, cluster_index, f"{block:06d}", row)
        rows.append({
            "id": customer_id, "email": f"{customer_id}@example.com", "first_name": first,
            "last_name": last, "purchases": purchases, "total_spent": float(spent),
        })  # fmt: skip
    return rows


class CustomerList:
    """One cluster's CSV: exact length up front, body streamed chunk by chunk."""

    def __init__(self, package_id: str, cluster_index: int, customers: int) -> None:
        self.customers = customers
        lines: list[bytes] = []
        for row in range(BLOCK_ROWS):
            first, last, purchases, spent = _row_fields(row)
            customer_id = _customer_id(package_id, cluster_index, _PLACEHOLDER, row)
            text = f"{customer_id},{customer_id}@example.com,{first},{last},{purchases},{spent}\n"
            lines.append(text.encode("utf-8"))
        self._template = b"".join(lines)
        self._offsets = [0]
        for line in lines:
            self._offsets.append(self._offsets[-1] + len(line))

    @property
    def content_length(self) -> int:
        full_blocks, rest = divmod(self.customers, BLOCK_ROWS)
        return len(HEADER) + full_blocks * len(self._template) + self._offsets[rest]

    def _block(self, block: int, rows: int = BLOCK_ROWS) -> bytes:
        return self._template[: self._offsets[rows]].replace(_PLACEHOLDER_BYTES, b"%06d" % block)

    async def chunks(self) -> AsyncIterator[bytes]:
        """Header, then one block per chunk; yields to the loop so one download cannot hog it."""
        yield HEADER
        full_blocks, rest = divmod(self.customers, BLOCK_ROWS)
        for block in range(full_blocks):
            yield self._block(block)
            await asyncio.sleep(0)
        if rest:
            yield self._block(full_blocks, rest)
