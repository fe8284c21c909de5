"""``merged_from`` names packages the SPA can open: the guide's ``merge_id`` ("123_456") and
its package ids ("pkg_555") disagree in form, so parts are matched against the partner's list."""

from __future__ import annotations

from app.listing.rows import PackageIndex


def test_a_part_resolves_to_the_listed_id_that_ends_with_it():
    index = PackageIndex(["pkg_123", "pkg_456", "pkg_9999"])
    assert index.merged_from("123_456") == ["pkg_123", "pkg_456"]


def test_an_exact_id_wins_and_unknown_or_ambiguous_parts_stay_as_given():
    index = PackageIndex(["777", "pkg_777", "pkg_8", "old-8"])
    assert index.resolve("777") == "777"
    assert index.resolve("8") == "8", "two ids end with it: no guess"
    assert index.resolve("31337") == "31337"


def test_prefixed_merge_ids_keep_their_prefix_grouping():
    index = PackageIndex(["pkg_1", "pkg_2"])
    assert index.merged_from("pkg_1_pkg_2") == ["pkg_1", "pkg_2"]
    assert index.merged_from(None) == []
