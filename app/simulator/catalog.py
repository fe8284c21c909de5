"""Deterministic reference data: the event catalogue, cluster names, customer names, NLQ ids.

Everything is derived from `stable_hash`, never from Python's randomised `hash()`, so two
runs of the simulator (and two tests) see exactly the same data.
"""

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta

PAGE_SIZE = 20
CATALOGUE_SIZE = 200
_FIRST_EVENT_ID = 12345
_EVENT_ID_STEP = 1111  # so the guide's example ids 12345, 23456, 34567 all exist
_FIRST_EVENT_DATE = date(2025, 1, 4)

CLUSTER_POOL: tuple[str, ...] = (
    "family_outings_munich",
    "Rock & Roll",
    "AC/DC fans",
    "100% locals",
    "Münchner Kindl",
    "jazz brunch",
    "a?b#c",
    "season_ticket_holders",
    "late_night_techno",
    "classical+opera",
    "VIP & hospitality",
    "über-fans",
    "students_u25",
    "Oktoberfest regulars",
    "musicals / theatre",
    "weekend_trippers",
)
_TRICKY_CHARS = frozenset(" &/%?#")

FIRST_NAMES: tuple[str, ...] = (
    "Anna", "Jürgen", "Zoë", "Lukas", "Marie", "Łukasz", "Sophie", "Jonas",
    "Émilie", "Felix", "Lea", "Ömer", "Paul", "Hannah", "Noah", "Mia",
)  # fmt: skip
LAST_NAMES: tuple[str, ...] = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Größ", "Wagner",
    "Becker", "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein",
)  # fmt: skip

_ARTISTS = (
    "The Lumineers", "Bavarian Brass Band", "Nina Kraviz", "Munich Philharmonic",
    "Seeed", "Die Toten Hosen", "Jazzrausch Bigband", "Hania Rani", "LaBrassBanda",
    "Kraftklub", "Ólafur Arnalds", "Cro", "Sportfreunde Stiller", "Nils Frahm",
    "Beatsteaks", "Anna Netrebko", "Fettes Brot", "Moderat", "Bilderbuch", "AnnenMayKantereit",
)  # fmt: skip
_SHOWS = ("Live", "Open Air", "Tour 2025", "Unplugged", "Christmas Special", "Matinee")
_VENUES = (
    "Olympiahalle München", "Zenith", "Tonhalle", "Isarphilharmonie", "Backstage Werk",
    "Circus Krone", "Muffathalle", "Theaterfabrik", "Allianz Arena", "Strom",
)  # fmt: skip


def stable_hash(*parts: object) -> int:
    """A 64-bit hash that is identical across processes and runs."""
    text = "\x1f".join(str(part) for part in parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def is_tricky(name: str) -> bool:
    """True for names that break naive URL handling (space, &, /, %, ?, #, non-ASCII)."""
    return not name.isascii() or any(char in _TRICKY_CHARS for char in name)


WALKTHROUGH_CLUSTER = "AC/DC fans"
"""Every build has this cluster: tricky (a slash and a space, `AC%2FDC%20fans` in a path), and
the one the README's walkthrough exports."""


def pick_clusters(data_seed: str, count: int) -> list[str]:
    """`count` distinct cluster names for one build, ``WALKTHROUGH_CLUSTER`` among them."""
    ordered = sorted(CLUSTER_POOL, key=lambda name: stable_hash(data_seed, name))
    chosen = ordered[:count]
    if WALKTHROUGH_CLUSTER not in chosen:
        chosen[-1] = WALKTHROUGH_CLUSTER
    chosen.extend(f"segment_{index}" for index in range(len(chosen) + 1, count + 1))
    return chosen


@dataclass(frozen=True)
class Event:
    id: int
    title: str
    date: date
    venue: str

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "title": self.title, "date": self.date.isoformat(), "venue": self.venue}


def _build_catalogue() -> tuple[Event, ...]:
    events = []
    for index in range(CATALOGUE_SIZE):
        artist = _ARTISTS[stable_hash("artist", index) % len(_ARTISTS)]
        show = _SHOWS[stable_hash("show", index) % len(_SHOWS)]
        venue = _VENUES[stable_hash("venue", index) % len(_VENUES)]
        events.append(
            Event(
                id=_FIRST_EVENT_ID + index * _EVENT_ID_STEP,
                title=f"{artist} – {show}",
                date=_FIRST_EVENT_DATE + timedelta(days=index * 4),
                venue=venue,
            )
        )
    return tuple(events)


EVENTS: tuple[Event, ...] = _build_catalogue()
_EVENTS_BY_ID = {event.id: event for event in EVENTS}


def event_title(event_id: int) -> str:
    """The catalogue title, or a stand-in for ids the catalogue does not know."""
    event = _EVENTS_BY_ID.get(event_id)
    return event.title if event else f"Event {event_id}"


def search_events(search: str, since: date | None) -> list[Event]:
    """Catalogue entries whose title or venue contains `search` (any case), dated >= `since`."""
    needle = search.casefold()
    return [
        event
        for event in EVENTS
        if (needle in event.title.casefold() or needle in event.venue.casefold())
        and (since is None or event.date >= since)
    ]


def sample_events(data_seed: str, count: int) -> list[dict[str, object]]:
    """`count` distinct catalogue events as `{id, title}` refs, chosen from the seed."""
    ordered = sorted(EVENTS, key=lambda event: stable_hash(data_seed, event.id))
    return [{"id": event.id, "title": event.title} for event in ordered[:count]]


def nlq_ids(description: str, result_type: str, language: str) -> list[int | str]:
    """Ids 'resolved' from a natural-language description: stable for the same input."""
    digest = stable_hash("nlq", description.strip().casefold(), result_type, language)
    count = 3 + digest % 8
    if result_type == "events":
        return [event["id"] for event in sample_events(f"nlq:{digest}", count)]  # type: ignore[misc]
    return [f"cust_{stable_hash(digest, index) % 1_000_000}" for index in range(count)]
