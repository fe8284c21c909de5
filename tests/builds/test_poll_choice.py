"""The poller's choice between one list call and a GET per watch (``PollHistory.prefers_gets``)
against the byte-cost model it stands for, over every size hypothesis can think of."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.builds.poller import DEFAULT_GET_BYTES
from app.builds.schedule import CALL_OVERHEAD_BYTES, PollHistory

sizes = st.integers(min_value=1, max_value=50_000_000)
watch_counts = st.integers(min_value=1, max_value=10_000)


def model_prefers_gets(watches: int, list_bytes: int | None, get_bytes: int | None) -> bool:
    """GETs when their bytes and per-call cost stay under half the list call's; the list while
    its size is unknown (so that it is learned)."""
    if list_bytes is None:
        return False
    gets_cost = watches * ((get_bytes or DEFAULT_GET_BYTES) + CALL_OVERHEAD_BYTES)
    return gets_cost * 2 < list_bytes + CALL_OVERHEAD_BYTES


@given(watch_counts, st.none() | sizes, st.none() | sizes)
def test_the_choice_is_the_cost_models(watches, list_bytes, get_bytes):
    history = PollHistory(list_bytes, get_bytes)
    assert history.prefers_gets(watches, DEFAULT_GET_BYTES) == model_prefers_gets(
        watches, list_bytes, get_bytes
    )


@given(watch_counts, sizes, st.none() | sizes)
def test_gets_are_chosen_only_when_they_cost_less_than_the_list(watches, list_bytes, get_bytes):
    if PollHistory(list_bytes, get_bytes).prefers_gets(watches, DEFAULT_GET_BYTES):
        per_get = (get_bytes or DEFAULT_GET_BYTES) + CALL_OVERHEAD_BYTES
        assert watches * per_get < list_bytes + CALL_OVERHEAD_BYTES


@given(watch_counts, sizes, st.none() | sizes)
def test_more_watches_or_a_shorter_list_never_turn_the_list_into_gets(watches, list_bytes, get_bytes):
    """The choice is monotone: no size flips it back and forth as builds start or finish."""
    prefers = PollHistory(list_bytes, get_bytes).prefers_gets
    if not prefers(watches, DEFAULT_GET_BYTES):
        assert not prefers(watches + 1, DEFAULT_GET_BYTES)
        assert not PollHistory(max(1, list_bytes - 1), get_bytes).prefers_gets(watches, DEFAULT_GET_BYTES)


@given(watch_counts, st.none() | sizes)
def test_an_unknown_list_size_is_learned_by_a_list_call(watches, get_bytes):
    assert not PollHistory(None, get_bytes).prefers_gets(watches, DEFAULT_GET_BYTES)
