"""The Sage posting figure posts every shipment once through the outbox, beside plain POSTs."""

from __future__ import annotations

import pytest

from firmware_sim.bench_sage import SageBenchError, measure_sage_posting


def test_each_shipment_becomes_one_invoice_and_both_rates_are_measured() -> None:
    figures = measure_sage_posting(10)

    assert figures.postings == 10
    assert figures.invoices == 10
    assert figures.outbox_per_minute > 0
    assert figures.plain_per_minute > 0
    assert figures.ratio == pytest.approx(figures.outbox_per_minute / figures.plain_per_minute)
    assert 0 < figures.plan_seconds < figures.outbox_seconds


def test_a_run_without_postings_is_refused_naming_the_count() -> None:
    with pytest.raises(SageBenchError, match="postings 0 is below 1"):
        measure_sage_posting(0)
