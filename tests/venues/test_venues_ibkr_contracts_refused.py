"""IbkrVenue books each fill at price times quantity into the kernel's one capital, converting
nothing: a contract whose multiplier is not 1, or contracts in more than one currency, are
refused when the venue is built, naming them; so is a contract TWS has no definition of (its
error 200), a setting to correct rather than a TWS not reached."""

from __future__ import annotations

import pytest
from test_venues_ibkr import AAPL
from tws_server import Listed, TwsServer

from dita.venues.ibkr import IbkrVenue

MES = Listed(730283085, "MES", min_tick=0.25, sec_type="FUT", exchange="CME", multiplier="5")


def test_a_contract_whose_multiplier_is_not_1_is_refused_when_the_venue_is_built_naming_it() -> None:
    with TwsServer([AAPL, MES]) as tws:
        mes = {"symbol": "MES", "sec_type": "FUT", "exchange": "CME"}
        contracts = {"AAPL": {"symbol": "AAPL"}, "MES": mes}
        with pytest.raises(ValueError, match=r"'MES': TWS gives .* the multiplier '5'"):
            IbkrVenue(port=tws.port, contracts=contracts, connect_timeout_s=3.0)
        assert tws.book.orders == {}
        with IbkrVenue(port=tws.port, contracts={"AAPL": {"symbol": "AAPL"}}, connect_timeout_s=3.0) as venue:
            assert venue.load_markets()["AAPL"].tick_size == 0.01


def test_contracts_in_more_than_one_currency_are_refused_naming_them() -> None:
    contracts = {"AAPL": {"symbol": "AAPL"}, "SAP": {"symbol": "SAP", "exchange": "IBIS", "currency": "EUR"}}
    with pytest.raises(ValueError, match=r"contracts\n.*more than one currency \(AAPL: USD, SAP: EUR\)"):
        IbkrVenue(port=1, contracts=contracts)


def test_a_contract_tws_has_no_definition_for_is_refused_naming_twss_error() -> None:
    with TwsServer([AAPL]) as tws:
        with pytest.raises(ValueError) as raised:
            IbkrVenue(port=tws.port, contracts={"APPL": {"symbol": "APPL"}}, connect_timeout_s=2.0)
    assert "'APPL': TWS error 200: No security definition has been found for the request" in str(raised.value)
    assert "(contracts)" in str(raised.value)
