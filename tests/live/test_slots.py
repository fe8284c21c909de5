"""The stream counts themselves (``app/live/slots.py``), in process: what a cap refuses,
what a slot gives back, and the process cap kept under the file-descriptor limit."""

from __future__ import annotations

import resource

import pytest

from app.kit.errors import TooManyRequests
from app.kit.settings import Settings
from app.live.slots import FD_HEADROOM, StreamSlots, stream_slots


def test_a_refused_slot_takes_nothing():
    slots = StreamSlots(per_partner=1, per_process=2)
    with slots.hold("a"):
        with pytest.raises(TooManyRequests) as refused:
            with slots.hold("a"):
                pass
        assert "BFF_MAX_STREAMS_PER_PARTNER" in refused.value.detail
        assert (slots.open, slots.open_for("a")) == (1, 1)
        with slots.hold("b"):
            with pytest.raises(TooManyRequests) as full:
                with slots.hold("c"):
                    pass
            assert "BFF_MAX_STREAMS_PER_PROCESS" in full.value.detail
            assert int(full.value.headers["Retry-After"]) > 0
            assert (slots.open, slots.open_for("c")) == (2, 0)
    assert (slots.open, slots.open_for("a"), slots.open_for("b")) == (0, 0, 0)


def test_a_slot_comes_back_once_whatever_ends_its_block():
    slots = StreamSlots(per_partner=2, per_process=2)
    with pytest.raises(RuntimeError), slots.hold("a"):
        raise RuntimeError("the stream failed")
    assert slots.open == 0
    with slots.hold("a"), slots.hold("a"):
        assert slots.open_for("a") == 2
    assert (slots.open, slots.open_for("a")) == (0, 0)


def test_the_process_cap_is_lowered_to_what_the_descriptor_limit_leaves():
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        pytest.skip("no descriptor limit here")
    settings = Settings(max_streams_per_process=soft * 2)
    reserved = settings.redis_max_connections + settings.upstream_max_connections + FD_HEADROOM
    assert stream_slots(settings).per_process == max(1, soft - reserved)
    assert stream_slots(Settings(max_streams_per_process=1)).per_process == 1


def test_a_token_for_many_partners_holds_one_subjects_streams_not_one_partners_each():
    slots = StreamSlots(per_partner=2, per_process=100, per_subject=3)
    with slots.hold("a", "many"), slots.hold("b", "many"), slots.hold("c", "many"):
        with pytest.raises(TooManyRequests) as refused:
            with slots.hold("d", "many"):
                pass
        assert "BFF_MAX_STREAMS_PER_SUBJECT" in refused.value.detail
        assert slots.open_for("d") == 0 and slots.open == 3
        with slots.hold("d", "someone-else"):  # another token of that partner still gets one
            assert slots.open_for("d") == 1
    assert slots.open == 0
    with slots.hold("a", "many"), slots.hold("b", "many"), slots.hold("c", "many"):
        pass  # every slot of the subject came back
