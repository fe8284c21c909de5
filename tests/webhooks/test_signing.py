"""Our signatures are checked with the `standardwebhooks` package, never with our own code."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from app.webhooks.signing import new_secret, signature_header

BODY = b'{"type":"package.done","timestamp":"2026-11-05T10:00:00.000Z","data":{"id":"1"}}'


def headers(signature: str, msg_id: str = "msg_1", timestamp: int | None = None) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp or int(time.time())),
        "webhook-signature": signature,
    }


def test_secret_is_whsec_and_base64_of_at_least_24_random_bytes():
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24
    assert new_secret() != secret


def test_signature_verifies_with_standardwebhooks():
    secret, now = new_secret(), int(time.time())
    signature = signature_header([secret], "msg_1", now, BODY)
    assert signature.startswith("v1,") and " " not in signature
    assert Webhook(secret).verify(BODY, headers(signature, timestamp=now))["type"] == "package.done"


def test_signature_covers_id_timestamp_and_body():
    secret, now = new_secret(), int(time.time())
    signature = signature_header([secret], "msg_1", now, BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, headers(signature, msg_id="msg_2", timestamp=now))
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, headers(signature, timestamp=now - 1))
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY + b" ", headers(signature, timestamp=now))
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers(signature, timestamp=now))


def test_during_rotation_both_secrets_sign_and_each_verifies():
    old, new, now = new_secret(), new_secret(), int(time.time())
    signature = signature_header([new, old], "msg_1", now, BODY)
    assert len(signature.split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(BODY, headers(signature, timestamp=now))
