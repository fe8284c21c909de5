"""How a Redis key is spelled: the ``bff:`` prefix and the parts that go into a key.

Each domain names its keys, with their lifetimes, in its own ``keys.py``. A key holding a
partner's data carries the partner id through ``partner_part``, the one place that spells a
partner in a key, so one partner can never read another's entry by accident.
"""

from __future__ import annotations

from hashlib import sha256

PREFIX = "bff"


def key_part(value: str) -> str:
    """Partner ids, subs and user keys go into keys as they are when short and plain
    (``[A-Za-z0-9_-]``), else hashed behind ``~``, a character no plain part has: a raw id
    can never land in the namespace of a hashed one."""
    if value and value.isascii() and value.replace("-", "").replace("_", "").isalnum() and len(value) <= 64:
        return value
    return "~" + sha256(value.encode()).hexdigest()[:32]


def partner_part(partner_id: str) -> str:
    """The segment of a key that names its partner: every partner key spells it here."""
    return key_part(partner_id)
