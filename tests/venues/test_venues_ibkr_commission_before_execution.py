"""IbkrVenue: a commission report TWS sends before its execution (ib_async drops a report of an
execution it has not heard of) is kept, and settles the fill once the execution comes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest.importorskip("ib_async")

import test_venues_ibkr
from test_venues_ibkr import a_kernel, commissions, entered, feed
from tws_server import TwsServer

from dita.venues.ibkr import IbkrVenue

tws = test_venues_ibkr.tws
make_venue = test_venues_ibkr.make_venue


def test_a_commission_report_that_comes_before_its_execution_settles_the_fill(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue()
    kernel = a_kernel(venue)
    coid = entered(kernel)
    exec_id = tws.fill(coid, 4.0, 190.0, commission=None, reported=False)
    tws.report_commission(exec_id, 1.25)  # the report first, on the same socket
    tws.repeat_execution(exec_id)  # then the execution
    (fill,) = feed(kernel, venue, 1)
    assert fill.fill_id == exec_id
    settled = commissions(venue, 1, timeout=3.0)
    assert [(s.fill_id, s.fee) for s in settled] == [(exec_id, 1.25)]
    assert all(kernel.on_account_event(s).accepted for s in settled)
    assert kernel.account()["k_unsettled_fees"] == pytest.approx(0.0)
