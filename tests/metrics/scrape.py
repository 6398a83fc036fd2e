"""Scraping a `/metrics` endpoint the way Prometheus does, and reading single samples."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


def parse(text: str) -> dict[str, list[Sample]]:
    """Every sample of the exposition, by sample name (``..._total``, ``..._count``...)."""
    samples: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def value(samples: dict[str, list[Sample]], name: str, **labels: str) -> float:
    """The one sample called ``name`` whose labels include ``labels``."""
    matching = [
        sample
        for sample in samples.get(name, [])
        if all(sample.labels.get(key) == wanted for key, wanted in labels.items())
    ]
    assert len(matching) == 1, f"{name}{labels}: expected one sample, found {matching}"
    return matching[0].value
