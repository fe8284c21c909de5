"""Signed links as the API makes them: one link per resource, partner and step of its
lifetime (made once, so a status poll does not sign), each verifiable for that request only."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest

from app.kit.errors import Forbidden
from app.kit.links import EVENTS_LINK_S, LinkSigner

SEGMENTS = ["v1", "packages", "42", "events"]


def query_of(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def test_a_link_expires_within_one_sixtieth_of_its_lifetime_before_the_full_lifetime():
    before = time.time()
    expires = int(query_of(LinkSigner(b"k" * 32, "").url(SEGMENTS, "p-1", EVENTS_LINK_S))["exp"])
    assert expires % 60 == 0
    assert before + EVENTS_LINK_S - 60 - 1 <= expires <= time.time() + EVENTS_LINK_S


def test_answers_within_one_step_carry_the_same_link_and_each_partner_its_own():
    signer = LinkSigner(b"k" * 32, "https://bff.example")
    first, again = (signer.url(SEGMENTS, "p-1", EVENTS_LINK_S) for _ in range(2))
    if query_of(first)["exp"] == query_of(again)["exp"]:  # not across a step's end
        assert again is first
    other = signer.url(SEGMENTS, "p-2", EVENTS_LINK_S)
    assert query_of(other)["sig"] != query_of(first)["sig"]
    query = query_of(other)
    assert signer.verify("GET", "/v1/packages/42/events", "p-2", query["exp"], query["sig"]) > time.time()
    with pytest.raises(Forbidden):
        signer.verify("GET", "/v1/packages/42/events", "p-1", query["exp"], query["sig"])


def test_a_short_link_is_not_rounded_away():
    expires = int(query_of(LinkSigner(b"k" * 32, "").url(SEGMENTS, "p-1", 2))["exp"])
    assert expires > time.time()


def test_remembered_links_are_bounded():
    signer = LinkSigner(b"k" * 32, "")
    for n in range(5000):
        signer.url(["v1", "packages", str(n), "events"], "p-1", EVENTS_LINK_S)
    assert len(signer._made) <= 4096
