"""W3C trace context: the caller's ``traceparent`` goes on upstream (same trace, our own span);
without one, a trace starts here; a malformed one is replaced, never relayed."""

from __future__ import annotations

import re

from tests.support.sim import make_package

TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
INCOMING = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def last_traceparent(sim, partner: str) -> str | None:
    return (await sim.get("/_sim/stats")).json()["last_traceparent"].get(partner)


async def test_the_callers_trace_continues_upstream_with_our_own_span(api, sim, partner):
    package = await make_package(sim, partner, "INPROGRESS")
    await api.get(f"/v1/packages/{package['id']}/status", headers={"traceparent": INCOMING})
    sent = await last_traceparent(sim, partner)
    assert sent is not None and TRACEPARENT.match(sent)
    _, trace_id, span_id, flags = sent.split("-")
    assert trace_id == INCOMING.split("-")[1] and flags == "01"
    assert span_id != INCOMING.split("-")[2], "the BFF's span is the upstream call's parent"


async def test_a_request_without_a_usable_trace_starts_one(api, sim, partner):
    package = await make_package(sim, partner, "INPROGRESS")
    for incoming in (None, "00-" + "0" * 32 + "-00f067aa0ba902b7-01", "garbage"):
        headers = {"traceparent": incoming} if incoming else {}
        await api.get(f"/v1/packages/{package['id']}/status", headers=headers)
        sent = await last_traceparent(sim, partner)
        assert sent is not None and TRACEPARENT.match(sent) and "0" * 32 not in sent, incoming
