"""IbkrVenue: a fill booked before a restart whose commission report had not come is settled
after it from the day's executions TWS lists with their commission reports: reconciliation tells
the venue the kernel's unsettled fills (``settle_fills``), though it follows no order of them."""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("ib_async")

import test_venues_ibkr
from test_venues_ibkr import a_kernel, commissions, entered, feed
from tws_server import TwsServer

from dita.venues.ibkr import IbkrVenue

tws = test_venues_ibkr.tws
make_venue = test_venues_ibkr.make_venue


@pytest.mark.parametrize("reported", ["at the connect", "after the reconciliation"])
def test_a_commission_report_of_an_order_filled_before_a_restart_settles_its_fill_after_it(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], tmp_path: Path, reported: str
) -> None:
    first_venue = make_venue()
    first = a_kernel(first_venue, tmp_path)
    coid = entered(first)
    exec_id = tws.fill(coid, 10.0, 190.0, commission=None)
    feed(first, first_venue, 1)
    assert first.account()["k_unsettled_fees"] > 0
    first.close()
    first_venue.close()
    del first
    gc.collect()
    if reported == "at the connect":  # came while the process was down: listed with the execution
        next(e for e in tws.book.executions if e.exec_id == exec_id).commission = 1.5

    venue = make_venue()
    kernel = a_kernel(venue, tmp_path)
    assert kernel.unsettled_fill_ids() == [exec_id]
    report = kernel.reconcile_with_venue()
    assert report.fees_unsettled == ""
    if reported == "after the reconciliation":
        tws.report_commission(exec_id, 1.5)
    settled = commissions(venue, 1, timeout=3.0)
    assert [(s.fill_id, s.fee, s.asset) for s in settled] == [(exec_id, 1.5, "AAPL")]
    for event in settled:
        assert kernel.on_account_event(event).accepted
    assert kernel.account()["k_unsettled_fees"] == pytest.approx(0.0)
    assert kernel.unsettled_fill_ids() == []
    assert venue.account_events() == []  # once


def test_a_corrections_fill_settled_after_a_restart_is_charged_its_commission_less_the_executions(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], tmp_path: Path
) -> None:
    first_venue = make_venue()
    first = a_kernel(first_venue, tmp_path)
    coid = entered(first)
    first_id = tws.fill(coid, 4.0, 190.0, commission=None)
    feed(first, first_venue, 1)
    corrected = tws.correct_execution(first_id, 6.0, 190.0, commission=None)  # 2 shares more
    feed(first, first_venue, 1)
    first.close()
    first_venue.close()
    del first
    gc.collect()
    for exec_id, commission in ((first_id, 1.0), (corrected, 1.25)):
        next(e for e in tws.book.executions if e.exec_id == exec_id).commission = commission

    venue = make_venue()
    kernel = a_kernel(venue, tmp_path)
    assert sorted(kernel.unsettled_fill_ids()) == sorted([first_id, corrected])
    kernel.reconcile_with_venue()
    settled = commissions(venue, 2, timeout=3.0)
    assert sorted((s.fill_id, s.fee) for s in settled) == sorted(
        [(first_id, 1.0), (corrected, pytest.approx(0.25))]
    )
    assert all(kernel.on_account_event(e).accepted for e in settled)
    assert kernel.account()["k_unsettled_fees"] == pytest.approx(0.0)
