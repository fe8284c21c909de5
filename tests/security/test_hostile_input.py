"""Every input is hostile until parsed: the decoding layer (cursors, headers, JSON bodies,
entity tags, keys) is fuzzed with hypothesis, and whatever comes in, the answer is a 4xx
problem, never a 500 (the API process also fails the suite if it ever reached its 500
handler)."""

from __future__ import annotations

import base64
import json
import string
import uuid

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.api.middleware import check_json
from app.auth.tokens import bearer_token, partner_of
from app.drafts import keys as draft_keys
from app.drafts.router import expected_versions
from app.kit.cursors import MAX_STAMP, decode_cursor, encode_cursor
from app.kit.errors import ProblemError
from tests.conftest import make_token

FUZZ = settings(max_examples=300, deadline=None)


def cursor_of(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def refused_as_client_error(call: object, *args: object) -> None:
    """``call(*args)`` either succeeds or raises our 4xx problem, nothing else."""
    assert callable(call)
    try:
        call(*args)
    except ProblemError as exc:
        assert 400 <= exc.status < 500


@FUZZ
@given(
    st.one_of(
        st.text(max_size=300), st.binary(max_size=300).map(lambda b: base64.urlsafe_b64encode(b).decode())
    )
)
def test_any_cursor_decodes_or_is_a_4xx(cursor: str) -> None:
    refused_as_client_error(decode_cursor, cursor)


@FUZZ
@given(
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(), st.lists, max_leaves=5)
)
def test_any_json_cursor_payload_decodes_or_is_a_4xx(payload: object) -> None:
    try:
        cursor = cursor_of(payload)
    except ValueError:
        return
    refused_as_client_error(decode_cursor, cursor)


@FUZZ
@given(st.floats(min_value=-MAX_STAMP, max_value=MAX_STAMP), st.text(max_size=256))
def test_every_cursor_we_make_comes_back_as_it_was(stamp: float, key: str) -> None:
    """Stamps within ``MAX_STAMP`` (every cursor made: dates in seconds or ms, positions)."""
    assert decode_cursor(encode_cursor(stamp, key)) == (stamp, key)


@FUZZ
@given(st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: abs(x) > MAX_STAMP))
def test_a_cursor_with_a_stamp_past_any_date_is_refused(stamp: float) -> None:
    refused_as_client_error(decode_cursor, encode_cursor(stamp, "k"))


@FUZZ
@given(st.binary(max_size=500) | st.text(max_size=200).map(str.encode))
def test_any_body_passes_the_json_check_or_is_a_4xx(body: bytes) -> None:
    refused_as_client_error(check_json, body)


@FUZZ
@given(st.text(max_size=300))
def test_any_partner_header_parses_or_is_a_4xx(value: str) -> None:
    try:
        partner = partner_of(value)
    except ProblemError as exc:
        assert exc.status == 400
    else:
        assert partner.isascii() and partner.isprintable() and 0 < len(partner) <= 128


@FUZZ
@given(st.text(max_size=300))
def test_any_authorization_header_parses_or_is_a_401(value: str) -> None:
    try:
        token = bearer_token(value)
    except ProblemError as exc:
        assert exc.status == 401
    else:
        assert token and token.isascii()


@FUZZ
@given(st.text(alphabet=string.printable + "\u00e9\u2028\ufeff", max_size=200))
def test_any_if_match_parses_or_is_a_400(value: str) -> None:
    refused_as_client_error(expected_versions, value)


@FUZZ
@given(st.text(max_size=100))
def test_redis_key_parts_never_share_a_namespace(value: str) -> None:
    """A plain part is the id itself; anything else is hashed behind ``~``, which no plain
    part contains: an id that looks like a hash cannot collide with a hashed one. Checks
    storage: how a key spells a partner."""
    part = draft_keys.draft(value, "s", "d").split(":")[2]
    if part.startswith("~"):
        assert "~" not in value or not value.replace("-", "").replace("_", "").isalnum()
    else:
        assert part == value and "~" not in part


async def test_forged_cursors_are_422_everywhere(api):
    huge = cursor_of([10**400, "x"])
    nan = cursor_of(["nan", "x"])
    infinite = base64.urlsafe_b64encode(b'[Infinity, "x"]').decode()
    for cursor in (huge, nan, infinite, "%%%", "AAAA"):
        response = await api.get("/v1/packages", params={"cursor": cursor})
        assert response.status_code == 422, (cursor, response.text)
    endpoint = (
        await api.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/h", "event_types": ["package.done"]})
    ).json()
    for cursor in (huge, nan, infinite):
        response = await api.get(f"/v1/webhooks/{endpoint['id']}/deliveries", params={"cursor": cursor})
        assert response.status_code == 422, (cursor, response.text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(state=st.dictionaries(st.text(max_size=20), json_values, max_size=6), step=st.text(max_size=12))
async def test_arbitrary_draft_bodies_never_reach_a_500(api, state: dict[str, object], step: str) -> None:
    body = json.dumps({"step": step, "state": state}, ensure_ascii=False).encode("utf-8", "surrogatepass")
    response = await api.post("/v1/drafts", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code < 500, response.text
    if response.status_code == 201:
        draft = response.json()
        await api.delete(f"/v1/drafts/{draft['id']}", headers={"If-Match": response.headers["ETag"]})


async def test_idempotency_keys_are_per_caller_not_per_partner(api_server, partner):
    body = {"title": "Munich shows Q3", "event_ids": [12345], "targeting_mode": "lookalike"}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    answers = []
    for sub in ("alice", "bob"):
        headers = {"Authorization": f"Bearer {make_token(sub=sub, partners=[partner])}",
                   "X-Preferred-Partner-Id": partner, **key}  # fmt: skip
        async with httpx.AsyncClient(base_url=api_server.url, headers=headers, timeout=30) as client:
            answers.append(await client.post("/v1/packages", json=body))
    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].json()["id"] != answers[1].json()["id"], "bob did not get alice's answer"
    assert "Idempotent-Replayed" not in answers[1].headers


async def test_webhook_registration_honours_idempotency_key(api):
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"url": "http://127.0.0.1:9/hook", "event_types": ["package.done"]}
    first = await api.post("/v1/webhooks", json=body, headers=key)
    again = await api.post("/v1/webhooks", json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again.headers["Idempotent-Replayed"] == "true"
    assert len((await api.get("/v1/webhooks")).json()["items"]) == 1


async def test_answers_do_not_name_the_server_software(api, anonymous):
    for response in (await api.get("/v1/drafts"), await anonymous.get("/v1/nowhere")):
        assert "server" not in response.headers
        assert "date" in response.headers  # an origin server with a clock still dates its answers
