"""A worker remembers the parsed form of open watches only: its memory follows the watches
still open, not every watch it has seen since it started."""

from __future__ import annotations

from app.builds.registry import ParsedWatches, Watch, WatchRegistry


async def test_a_watch_closed_finished_or_rewritten_here_is_forgotten_at_once(store, partner):
    registry = WatchRegistry(store)
    for package_id in ("1", "2", "3"):
        await registry.open(partner, package_id, reason="create")
    first, second, third = sorted(await registry.watches(partner), key=lambda w: w.package_id)
    assert len(registry.parsed) == 3

    assert await registry.finish(first, "DONE")
    assert await registry.close(second)
    assert len(registry.parsed) == 1
    assert await registry.set_misses(third, 1)
    assert len(registry.parsed) == 0, "the old stored form is no watch any more"

    [rewritten] = await registry.watches(partner)
    assert rewritten.misses == 1 and len(registry.parsed) == 1
    assert await registry.finish(rewritten, "DONE")
    assert len(registry.parsed) == 0 and registry.parsed.known(partner) == {}


async def test_a_watch_closed_by_another_process_is_forgotten_at_the_next_read(store, partner):
    mine, theirs = WatchRegistry(store), WatchRegistry(store)
    for package_id in ("1", "2"):
        await mine.open(partner, package_id, reason="create")
    watches = sorted(await mine.watches(partner), key=lambda w: w.package_id)
    assert await theirs.close(watches[0])

    assert [w.package_id for w in await mine.watches(partner)] == ["2"]
    assert len(mine.parsed) == 1
    assert await theirs.close(watches[1])
    assert await mine.watches(partner) == []
    assert len(mine.parsed) == 0, "a partner with no open watch is dropped"


async def test_an_unchanged_watch_is_parsed_once(store, partner):
    registry = WatchRegistry(store)
    await registry.open(partner, "1", reason="create")
    [first] = await registry.watches(partner)
    [again] = await registry.watches(partner)
    assert again is first


def test_past_its_cap_everything_is_forgotten_rather_than_growing():
    parsed = ParsedWatches(cap=4)

    def watches(partner: str, count: int) -> dict[str, Watch]:
        raws = [f'{{"package_id":"{n}","partner_id":"{partner}","generation":"0"}}' for n in range(count)]
        return {raw: Watch.parse(raw) for raw in raws}

    parsed.replace("a", watches("a", 3))
    parsed.replace("a", watches("a", 2))  # a read replaces the partner's entries
    assert len(parsed) == 2
    parsed.replace("b", watches("b", 3))  # 5 > 4: the others go
    assert len(parsed) == 3 and parsed.known("a") == {}
