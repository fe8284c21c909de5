"""Reading a Prometheus exposition in tests."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """``(sample name, labels) → value`` of everything the text exposes."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def label_values(text: str) -> set[str]:
    """Every label value the text exposes: where a raw id would leak into a metric."""
    return {value for (_, labels) in samples(text) for _, value in labels}


def leaks(text: str, *ids: str) -> list[str]:
    """The label values that carry any of ``ids`` (numbers in sample values do not count:
    a package id "1406" may well occur in a timestamp)."""
    return [value for value in label_values(text) if any(i in value for i in ids)]


def value(scraped: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when it is not exposed (yet)."""
    return scraped.get((name, frozenset(labels.items())), 0.0)
