"""IbkrVenue: a commission report stating TWS's unset figure (the largest double, which TWS
sends for a figure it does not state) is no commission: the fill keeps the kernel's predicted
fee, settled as after a report in another currency, and a WARNING says so."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
import test_venues_ibkr
from test_venues_ibkr import a_kernel, commissions, entry, feed
from tws_server import TwsServer

from dita.venues.ibkr import IbkrVenue

tws = test_venues_ibkr.tws
make_venue = test_venues_ibkr.make_venue

UNSET_DOUBLE = 1.7976931348623157e308


@pytest.mark.parametrize("commission", [UNSET_DOUBLE, float("inf"), float("nan")])
def test_a_commission_report_tws_sends_unset_settles_the_fill_at_its_predicted_fee(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], caplog: pytest.LogCaptureFixture, commission: float
) -> None:
    venue = make_venue()
    kernel = a_kernel(venue)
    sent = kernel.process_intent(entry())
    assert sent.order is not None
    exec_id = tws.fill(sent.order.client_order_id, 4.0, 190.0, commission=commission)
    feed(kernel, venue, 1)
    (settled,) = commissions(venue, 1)
    assert (settled.fill_id, settled.fee, settled.predicted_fee_stands) == (exec_id, 0.0, True)
    assert kernel.on_account_event(settled).accepted
    assert kernel.account()["k_unsettled_fees"] == pytest.approx(0.0)
    said = f"execution {exec_id}: commission {commission!r} USD is TWS's unset figure (none stated)"
    assert any(said in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
