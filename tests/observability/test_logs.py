"""Logs: one JSON object per line from every entry point, the request id on each line of a
request, route templates instead of raw paths, and no token in any line."""

from __future__ import annotations

import io
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st
from starlette.types import ASGIApp

from app.api.middleware import RequestIdMiddleware
from app.observability.logs import (
    _MAY_HOLD_SECRET,
    _SECRETS,
    _may_hold_secret,
    _skip_unused_record_fields,
    _utc_time,
    make_handler,
    redact,
    request_context,
)
from tests.conftest import make_token
from tests.support.processes import ApiServer, ManagedProcess, free_port, python_module

JWT = make_token(partners=["p-logs"])
SECRETS = [
    (f"Authorization: Bearer {JWT}", JWT),
    (f"GET /v1/packages/1/events?access_token={JWT}&partner_id=p", JWT),
    ("GET /v1/packages/1/customers.csv?exp=1&sig=c2lnbmF0dXJlLXZhbHVl", "c2lnbmF0dXJlLXZhbHVl"),
    ("callback?token=opaque-123&x=1", "opaque-123"),
    ("secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw rotated", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
    (f"bare jwt {JWT.split('.')[0]}.{JWT.split('.')[1]} seen", JWT.split(".")[1]),
]


@pytest.mark.parametrize(("text", "secret"), SECRETS)
def test_redaction_masks_every_token_like_value(text, secret):
    masked = redact(text)
    assert secret not in masked
    assert "redacted" in masked


def test_redaction_leaves_ordinary_text_alone():
    text = "webhook 8f3e attempt 1.2: succeeded 204 for /v1/packages/{package_id} in 12 ms"
    assert redact(text) == text


@given(
    st.tuples(st.text(max_size=20), st.sampled_from(_SECRETS), st.text(max_size=20)).flatmap(
        lambda parts: st.from_regex(parts[1][0], fullmatch=True).map(
            lambda secret: parts[0] + secret + parts[2]
        )
    )
)
def test_the_cheap_precheck_lets_every_secret_through_to_the_substitutions(text):
    assert _may_hold_secret(text)
    assert _MAY_HOLD_SECRET.search(text) is not None


def _every_substitution(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


@given(st.text(alphabet=st.sampled_from("bBaAsSiIcCeErRyYjJ=whsec_ .ſıİK\u212a"), max_size=40) | st.text())
def test_the_precheck_never_changes_what_redaction_gives(text):
    assert redact(text) == _every_substitution(text)


@given(st.floats(min_value=0, max_value=4e9, allow_nan=False))
def test_the_log_time_is_the_records_utc_time_to_the_millisecond(created):
    expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
    assert _utc_time(created) == expected


def _record_through(log_format: str, emit) -> str:
    stream = io.StringIO()
    logger = logging.getLogger(f"tests.logs.{log_format}")
    logger.handlers[:] = [make_handler(log_format, stream)]  # type: ignore[arg-type]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    emit(logger)
    return stream.getvalue()


@pytest.fixture
def access_log() -> Iterator[Callable[[str], io.StringIO]]:
    """``app.access`` written to a string in the given format, alone; restored afterwards."""
    logger = logging.getLogger("app.access")
    saved = logger.handlers[:], logger.propagate, logger.level

    def capture(log_format: str) -> io.StringIO:
        stream = io.StringIO()
        logger.handlers[:] = [make_handler(log_format, stream)]  # type: ignore[arg-type]
        logger.propagate = False
        logger.setLevel(logging.INFO)
        return stream

    yield capture
    logger.handlers[:], logger.propagate, logger.level = saved


def _served_app() -> ASGIApp:
    app = FastAPI()

    @app.get("/v1/packages/{package_id}")
    async def get_package(package_id: str) -> dict[str, str]:
        return {"id": package_id}

    return RequestIdMiddleware(app)


async def _get(path: str, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=_served_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get(path, headers=headers)


async def test_the_access_line_is_one_json_line_with_the_request_fields_in_order(access_log):
    stream = access_log("json")
    answer = await _get("/v1/packages/42?sig=abc", {"X-Request-ID": "req-1", "X-Preferred-Partner-Id": "p-1"})
    assert answer.status_code == 200
    output = stream.getvalue()
    assert output.count("\n") == 1
    line = json.loads(output)
    assert list(line) == [
        "time",
        "level",
        "logger",
        "message",
        "request_id",
        "partner",
        "method",
        "route",
        "status",
        "duration_ms",
    ]
    assert line["message"] == "GET /v1/packages/{package_id} 200" and line["logger"] == "app.access"
    assert (line["level"], line["request_id"], line["partner"]) == ("INFO", "req-1", "p-1")
    assert (line["method"], line["route"], line["status"]) == ("GET", "/v1/packages/{package_id}", 200)
    assert isinstance(line["duration_ms"], float)


async def test_the_access_line_masks_a_token_sent_as_request_id_or_partner(access_log):
    short_jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwIn0.c2lnbmF0dXJl"  # a sane request id's length
    stream = access_log("json")
    await _get("/nowhere", {"X-Request-ID": short_jwt, "X-Preferred-Partner-Id": short_jwt})
    line = json.loads(stream.getvalue())
    assert "eyJzdWIiOiJwIn0" not in stream.getvalue()
    assert line["request_id"] == line["partner"] == "[redacted-jwt]"
    assert (line["route"], line["status"]) == ("unmatched", 404)


async def test_the_access_line_without_a_request_id_gets_a_new_one_and_no_partner(access_log):
    stream = access_log("json")
    answer = await _get("/v1/packages/7", {"X-Preferred-Partner-Id": "not a partner id"})
    line = json.loads(stream.getvalue())
    assert line["request_id"] == answer.headers["x-request-id"] and len(line["request_id"]) == 32
    assert "partner" not in line


async def test_the_access_line_in_text_format(access_log):
    stream = access_log("text")
    await _get("/v1/packages/7", {"X-Request-ID": "req-7"})
    (line,) = stream.getvalue().splitlines()
    assert " INFO    app.access GET /v1/packages/{package_id} 200 request_id=req-7 method=GET " in line
    assert "route=/v1/packages/{package_id} status=200 duration_ms=" in line


@pytest.mark.parametrize(
    "context",
    [
        {"request_id": JWT, "partner": f"Bearer {JWT}", "job": "j-1", "attempt": 2},  # redacted; extra keys
        {"partner": None, "route": lambda: None},  # fields that are None are left out
        {"request_id": "req-2", "name": "shadows the record's name", "levelname": "x"},
        {},
    ],
)
def test_request_fields_join_every_line_after_the_explicit_ones(context):
    def emit(logger: logging.Logger) -> None:
        with request_context(**context):
            logger.info("%s done", "job", extra={"status": 200, "job": "explicit", "zone": "z"})

    line = json.loads(_record_through("json", emit))
    expected_keys = ["time", "level", "logger", "message"]
    expected_keys += [key for key in ("request_id", "partner") if context.get(key) is not None]
    expected_keys += ["status", "job", "zone"]
    expected_keys += [key for key in ("attempt",) if key in context]
    assert list(line) == expected_keys
    assert (line["logger"], line["level"], line["message"]) == ("tests.logs.json", "INFO", "job done")
    assert line["job"] == "explicit", "an explicit extra wins over the request's field"
    assert JWT.split(".")[1] not in json.dumps(line)


def test_records_keep_the_callers_file_and_line():
    """Our configuration leaves the logging module's own attributes alone: a handler an
    operator adds (``%(pathname)s:%(lineno)d``) still gets the caller."""
    _skip_unused_record_fields()
    seen: list[logging.LogRecord] = []

    def note(record: logging.LogRecord) -> bool:
        seen.append(record)
        return False

    logger = logging.getLogger("tests.logs.caller")
    logger.addFilter(note)
    logger.warning("here")
    assert seen[0].pathname == __file__ and seen[0].funcName == "test_records_keep_the_callers_file_and_line"


def test_json_line_carries_request_fields_and_a_redacted_traceback():
    def emit(logger: logging.Logger) -> None:
        with request_context(request_id="req-1", partner="p-1", route=lambda: "/v1/drafts"):
            try:
                raise ValueError(f"upstream refused Bearer {JWT}")
            except ValueError:
                logger.exception("call failed for token=%s", "abc123")

    output = _record_through("json", emit)
    assert output.count("\n") == 1, "the traceback stays inside the one line"
    line = json.loads(output)
    assert line["level"] == "ERROR" and line["logger"] == "tests.logs.json"
    assert line["message"] == "call failed for token=[redacted]"
    assert (line["request_id"], line["partner"], line["route"]) == ("req-1", "p-1", "/v1/drafts")
    assert "ValueError" in line["exc"] and JWT not in line["exc"]
    assert line["time"].endswith("Z")


def test_text_format_is_one_readable_line_with_the_fields():
    output = _record_through(
        "text", lambda logger: logger.info("GET /healthz 200", extra={"request_id": "r-9", "status": 200})
    )
    assert output.rstrip().endswith("GET /healthz 200 request_id=r-9 status=200")
    with pytest.raises(json.JSONDecodeError):
        json.loads(output)


def test_text_format_masks_tokens_in_message_fields_and_traceback():
    def emit(logger: logging.Logger) -> None:
        with request_context(partner=f"Bearer {JWT}"):
            try:
                raise ValueError(f"refused whsec_{JWT[-20:]}")
            except ValueError:
                logger.exception("call failed for token=%s", "abc123", extra={"link": f"x?sig={JWT}"})

    output = _record_through("text", emit)
    assert "abc123" not in output and JWT.split(".")[1] not in output and JWT[-20:] not in output
    assert "call failed for token=[redacted] partner=Bearer [redacted] link=x?sig=[redacted]" in output
    assert "ValueError: refused whsec_[redacted]" in output


@pytest.mark.parametrize("escaped", ['"', "\\", "\n"])
def test_a_masked_value_next_to_a_json_escape_leaves_a_valid_line(escaped):
    output = _record_through("json", lambda logger: logger.info(f"token=opaque{escaped}rest"))
    line = json.loads(output)
    assert "opaque" not in output and line["message"].startswith("token=[redacted]")


def _json_lines(log: str) -> list[dict]:
    """Every line of a process's output, each of which must be a JSON object."""
    lines = [line for line in log.splitlines() if line.strip()]
    assert lines, "the process wrote nothing"
    return [json.loads(line) for line in lines]


async def test_api_writes_json_lines_with_request_id_route_and_no_token(bff_env):
    # A dead Redis: creating a draft is refused with 503, and the app logs why.
    env = {**bff_env, "BFF_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    api = ApiServer("api-logs", env, log_level="info").start()
    try:
        headers = {
            "Authorization": f"Bearer {JWT}",
            "X-Preferred-Partner-Id": "p-logs",
            "X-Request-ID": "logs-test-1",
        }
        async with httpx.AsyncClient(base_url=api.url, headers=headers) as client:
            answer = await client.post("/v1/drafts", json={"step": "events", "state": {}})
            assert answer.status_code == 503
            await client.get(f"/v1/packages/42/events?access_token={JWT}&partner_id=p-logs")
    finally:
        api.close()
    log = api.log()
    assert JWT not in log and JWT.split(".")[1] not in log
    lines = _json_lines(log)
    ours = [line for line in lines if line.get("request_id") == "logs-test-1"]
    access = [line for line in ours if line["logger"] == "app.access"]
    assert {(a["method"], a["route"], a["status"]) for a in access} >= {("POST", "/v1/drafts", 503)}
    assert all(isinstance(a["duration_ms"], float) and a["partner"] == "p-logs" for a in access)
    warning = next(line for line in ours if line["logger"] == "app" and line["level"] == "WARNING")
    assert warning["route"] == "/v1/drafts" and "redis unavailable" in warning["message"]
    assert not any("/v1/packages/42/events" in line.get("route", "") for line in lines)
    assert any(line["logger"] == "uvicorn.error" for line in lines), "uvicorn's lines are ours too"


def _run_until(process: ManagedProcess, seen: str, deadline_s: float = 20) -> str:
    """Run until ``seen`` appears in the output (or the deadline), then stop; the output."""
    process.start()
    try:
        end = time.monotonic() + deadline_s
        while seen not in process.log() and time.monotonic() < end:
            assert process.process is not None and process.process.poll() is None, process.log()
            time.sleep(0.05)
    finally:
        process.stop()
    return process.log()


def test_plain_uvicorn_writes_json_lines_and_our_access_line(bff_env):
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port)]
    process = ManagedProcess("uvicorn-logs", argv, env=bff_env, port=port)
    process.start()
    try:
        httpx.get(f"http://127.0.0.1:{port}/healthz", headers={"X-Request-ID": "plain-uvicorn"})
    finally:
        process.stop()
    lines = _json_lines(process.log())
    access = [line for line in lines if line["logger"] == "app.access"]
    assert [(a["request_id"], a["route"], a["status"]) for a in access] == [
        ("plain-uvicorn", "/healthz", 200)
    ]
    assert not any(line["logger"] == "uvicorn.access" for line in lines)


def test_arq_cli_worker_writes_json_lines_from_its_first_line(bff_env):
    env = {**bff_env, "BFF_REDIS_URL": bff_env["BFF_REDIS_URL"].rsplit("/", 1)[0] + "/13"}
    argv = [sys.executable, "-m", "arq", "app.worker.WorkerSettings"]
    log = _run_until(ManagedProcess("arq-logs", argv, env=env), "worker started")
    lines = _json_lines(log)
    loggers = [line["logger"] for line in lines]
    assert loggers[0] == "arq.worker" and "app.worker" in loggers, loggers


def test_python_m_app_worker_honours_text_format(bff_env):
    env = {**bff_env, "BFF_REDIS_URL": bff_env["BFF_REDIS_URL"].rsplit("/", 1)[0] + "/13"}
    log = _run_until(
        ManagedProcess("worker-text", python_module("app", "worker"), env={**env, "BFF_LOG_FORMAT": "text"}),
        "worker started",
    )
    started = next(line for line in log.splitlines() if "worker started" in line)
    assert " INFO    app.worker worker started" in started
