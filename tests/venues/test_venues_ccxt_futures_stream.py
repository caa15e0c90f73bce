"""The ccxt venue's user-data stream for Binance USD-M futures (``market_type="linear"``,
``user_stream=True``) through the kernel, against a local futures exchange that speaks the
listen key's stream and the futures REST API (``binance_futures_streams.py``): what is the
futures stream's own (the listen key kept alive, expired and refused, ACCOUNT_UPDATE's balances,
positions and wallet balance, short positions), and seeded faulty sessions. The scenarios it
shares with spot (frames duplicated, reordered or never sent, the connection dropped) run on
both markets in ``test_venues_ccxt_streams.py``. Whatever the stream loses, REST recovers: no
fill lost, none booked twice, the kernel's position the exchange's."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator

import pytest
import test_venues_ccxt_streams as stream_tests
from binance_futures_streams import (
    FUTURES_FAULT_KINDS,
    BinanceFuturesServer,
    futures_faults,
    futures_streaming,
)
from test_venues_ccxt_streams import (
    FaultyMarket,
    Session,
    entry,
    run_faulty_sessions,
    settle,
    start_session,
    wait_for,
)

from dita import TradeStage
from dita.venues import CcxtVenue
from dita.venues.account_events import take_account_events
from dita.venues.ccxt.user_frames import futures_account

# The keys the local exchange is signed with, as the stream tests have them.
_keys = stream_tests._keys

FUTURES = FaultyMarket(
    "linear",
    lambda seed: futures_streaming(futures_faults(seed, rate=0.1)),
    FUTURES_FAULT_KINDS,
    shorts=True,
)


@pytest.fixture
def session() -> Iterator[Session]:
    with futures_streaming() as server:
        session = start_session(server, "linear")
        try:
            yield session
        finally:
            session.kernel.close()
            session.venue.close()


def futures_server(session: Session) -> BinanceFuturesServer:
    assert isinstance(session.server, BinanceFuturesServer)
    return session.server


def all_fills(session: Session) -> list[str]:
    return sorted(f"BTCUSDT:{t.trade_id}" for t in session.server.trades)


# -- the stream books fills ---------------------------------------------------------------


def test_a_short_s_fills_arrive_by_stream_and_are_booked_without_a_rest_order_query(session: Session) -> None:
    session.bring_up()
    sent, client_id = entry(session, 1, side="SHORT")
    assert sent, client_id
    server = futures_server(session)
    queries = server.rest_calls("GET", "/fapi/v1/order")
    trades_asked = server.rest_calls("GET", "/fapi/v1/userTrades")
    server.fill(client_id, 0.008)
    server.fill(client_id)
    settle(session, 0.02)
    assert session.kernel.slot_state(0).fsm_state == TradeStage.POSITION_OPEN
    # Booked from the stream: no order query, no trade list asked for.
    assert server.rest_calls("GET", "/fapi/v1/order") == queries
    assert server.rest_calls("GET", "/fapi/v1/userTrades") == trades_asked
    assert sorted(session.reported_fills) == all_fills(session)
    assert session.position() == pytest.approx(server.position()) == pytest.approx(-0.02)
    # ACCOUNT_UPDATE's wallet balance and signed position, as stream_status gives them.
    wait_for(lambda: (session.venue.stream_status().positions or {}).get("BTCUSDT") == -0.02, "the position")  # type: ignore[union-attr]
    status = session.venue.stream_status()
    assert status is not None and status.lag_s is not None and status.lag_s < 5.0
    assert status.balances == {"USDT": pytest.approx(server.wallet)}
    assert server.wallet == pytest.approx(1_000_000.0 - 0.001 * 0.02 * 90000.0)


def test_an_expired_listen_key_makes_the_stream_reconnect_with_a_new_one(session: Session) -> None:
    """``listenKeyExpired`` ends the subscription on an open connection: the stream is down, a
    new listen key is asked for and dialled, and the fill whose frame never came is booked by
    the reconciliation."""
    session.bring_up()
    sent, client_id = entry(session, 1)
    assert sent
    server = futures_server(session)
    server.inject("expire_listen_key")
    server.fill(client_id)
    session.wait_state("reconciling")
    status = session.venue.stream_status()
    assert status is not None and status.reconnects == 1
    assert "ended the subscription" in status.last_error
    assert server.listen_keys_made == 2 and server.rest_calls("POST", "/fapi/v1/listenKey") == 2
    session.poll()
    assert session.state() == "up"
    assert session.kernel.slot_state(0).size == pytest.approx(0.02)


def test_a_stale_connection_is_down_and_dialled_again(session: Session) -> None:
    session.bring_up()
    sent, client_id = entry(session, 1)
    assert sent
    futures_server(session).inject("stale")
    futures_server(session).fill(client_id)
    session.wait_state("reconciling")
    status = session.venue.stream_status()
    # Down by the heartbeat, or by ccxt's own ping that went unanswered.
    assert status is not None and status.reconnects == 1 and status.last_error
    session.poll()
    assert session.kernel.slot_state(0).size == pytest.approx(0.02)


def test_a_quiet_connection_kept_by_pings_stays_up(session: Session) -> None:
    """The heartbeat reads the listen key's connection: its pings keep it up though no event comes."""
    session.bring_up()
    time.sleep(3 * stream_tests.HEARTBEAT_S)
    status = session.venue.stream_status()
    assert status is not None and status.state == "up" and status.reconnects == 0, status


def test_the_listen_key_is_kept_alive_by_put_and_a_refused_extension_dials_again() -> None:
    """ccxt 4.5.90 extends a futures listen key once only; the stream extends it every
    ``listenKeyRefreshRate`` itself."""
    with futures_streaming() as server:
        clock = stream_tests.ManualClock()
        # ccxt's keep-alive every 200 ms instead of every 20 minutes.
        options = {"listenKeyRefreshRate": 200}
        # A heartbeat a loaded host cannot miss (ccxt's pings come every third of it, each
        # pong missed twice ends the connection): only the refused extension redials here.
        venue = stream_tests.streamed_venue(
            server, clock, start=False, market_type="linear", options=options, user_stream_heartbeat_s=30.0
        )
        try:
            venue.load_markets()
            wait_for(lambda: server.rest_calls("PUT", "/fapi/v1/listenKey") >= 2, "the keep-alive")
            assert server.listen_keys_made == 1
            assert venue.stream_status().reconnects == 0  # type: ignore[union-attr]
            # The key gone (its extension refused, -1125): the stream is dialled with a new one.
            server._call(lambda: setattr(server, "listen_key", None))
            wait_for(lambda: venue.stream_status().reconnects == 1, "the reconnect")  # type: ignore[union-attr]
            assert server.listen_keys_made == 2
            assert "-1125" in venue.stream_status().last_error  # type: ignore[union-attr]
        finally:
            venue.close()


def test_a_ban_answered_to_the_listen_key_request_is_waited_out_in_full() -> None:
    """The listen key is asked for by REST on the stream's own exchange: its 418 and Retry-After
    are the venue's ban, and nothing is sent to the address until it ends."""
    with futures_streaming() as server:
        clock = stream_tests.ManualClock()
        server.ban_clock = clock
        venue = stream_tests.streamed_venue(server, clock, start=False, market_type="linear")
        try:
            venue._markets.load(False)
            server.ban(7200.0)
            venue._start_stream()
            wait_for(lambda: venue._client.throttle_wait() > 7000.0, "the ban noted in full")
            time.sleep(0.3)
            assert server.sent_while_banned == 0 and server.listen_keys_made == 0
            clock.advance(7200.0)
            wait_for(lambda: venue.stream_status().state != "down", "the stream to subscribe")  # type: ignore[union-attr]
            assert server.sent_while_banned == 0
        finally:
            venue.close()


@pytest.mark.parametrize(
    "client_id", ["adl_autoclose", "autoclose-1764547200000"], ids=["auto-deleveraging", "liquidation"]
)
def test_a_position_the_exchange_closes_itself_is_logged_and_counted_as_its_frame_comes(
    session: Session, client_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A short of 0.02 held, no order working: the exchange closes it itself (its order under its
    own client id), its frame sent twice. Without a poll (a runtime polls no venue while no order
    works), the venue logs an ERROR naming the market, the order, its side and size, and counts
    the close once in stream_status. The kernel is told nothing, and holds the short the
    venue's positions() no longer shows (reconciliation's position_mismatches)."""
    server = futures_server(session)
    session.bring_up()
    sent, own = entry(session, 1, side="SHORT")
    assert sent
    server.fill(own)
    settle(session, 0.02)
    assert session.position() == pytest.approx(-0.02)
    with caplog.at_level(logging.ERROR, logger="dita"):
        server.inject("duplicate")
        server.close_position_itself(client_id, 88000.0)
        wait_for(lambda: session.venue.stream_status().positions == {"BTCUSDT": 0.0}, "the position's end")  # type: ignore[union-attr]
    status = session.venue.stream_status()
    assert status is not None and status.exchange_closes == 1
    close = status.last_exchange_close
    assert close is not None
    assert (close.market, close.client_order_id, close.side) == ("BTCUSDT", client_id, "BUY")
    assert (close.size, close.price) == (pytest.approx(0.02), pytest.approx(88000.0))
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(said) == 1 and all(word in said[0] for word in ("BTCUSDT", client_id, "BUY", "0.02")), said
    session.poll()
    assert session.position() == pytest.approx(-0.02)
    assert session.venue.positions().get("BTCUSDT", 0.0) == 0.0  # what reconciliation compares


def test_a_streamed_deposit_is_the_wallet_balance_of_stream_status(session: Session) -> None:
    session.bring_up()
    futures_server(session).deposit("USDT", 2_500.0)
    wait_for(lambda: session.venue.stream_status().balances == {"USDT": 1_002_500.0}, "the deposit")  # type: ignore[union-attr]


def test_the_streamed_wallet_balance_reaches_the_kernel_and_agrees_with_its_capital(session: Session) -> None:
    """The kernel's capital (seed, realised PnL, fees) against the wallet balance ACCOUNT_UPDATE
    carries: a short filled by the stream, its commission booked, both sides agree."""
    server = futures_server(session)
    session.kernel.set_seed_capital(server.wallet)
    session.bring_up()
    take_account_events(session.kernel, session.venue)
    sent, client_id = entry(session, 1, side="SHORT")
    assert sent, client_id
    server.fill(client_id)
    settle(session, 0.02)

    def wallet_taken() -> bool:
        take_account_events(session.kernel, session.venue)
        return session.kernel.account()["e_wallet_balance"] == pytest.approx(server.wallet)

    wait_for(wallet_taken, "the wallet balance")
    account = session.kernel.account()
    assert server.wallet < 1_000_000.0  # the commission paid
    assert account["k_capital"] == pytest.approx(server.wallet)
    assert account["reconcile_status"] == "OK" and abs(account["reconcile_delta"]) < 1e-6
    # A deposit the stream carries reaches the kernel as the wallet balance too.
    server.deposit("USDT", 100.0)
    wait_for(wallet_taken, "the deposit")
    assert session.kernel.account()["reconcile_delta"] == pytest.approx(100.0)


def test_an_account_update_gives_wallet_balances_and_net_positions() -> None:
    """Binance's example of a hedge-mode account (its USDT-M futures user data stream notes):
    each position side is kept, and the position is their sum."""

    def position(side: str, amount: str, entry_price: str) -> dict[str, str]:
        return {"s": "BTCUSDT", "pa": amount, "ep": entry_price, "up": "0", "mt": "isolated", "ps": side}

    balances_given = [
        {"a": "USDT", "wb": "94.91018561", "cw": "93.70831461"},
        {"a": "BNB", "wb": "0.02575839", "cw": "0"},
    ]
    positions_given = [
        position("BOTH", "0", "0.00000"),
        position("LONG", "0.010", "11445.71000"),
        position("SHORT", "-0.004", "11440.00000"),
    ]
    update = {"m": "ORDER", "B": balances_given, "P": positions_given}
    frame = {"e": "ACCOUNT_UPDATE", "T": 1603093193280, "E": 1603093193284, "a": update}
    balances, positions = futures_account(frame)
    assert balances == {"USDT": 94.91018561, "BNB": 0.02575839}
    assert positions == {("BTCUSDT", "BOTH"): 0.0, ("BTCUSDT", "LONG"): 0.01, ("BTCUSDT", "SHORT"): -0.004}
    assert futures_account({"e": "ACCOUNT_UPDATE"}) == ({}, {})


def test_binance_usd_m_futures_takes_a_user_stream() -> None:
    venue = CcxtVenue(exchange="binance", market_type="linear", user_stream=True)
    assert venue.stream_status() is not None


# -- faulty sessions ----------------------------------------------------------------------

SESSIONS = int(os.environ.get("DITA_FUTURES_STREAM_SESSIONS", "20"))


def test_faulty_futures_sessions_lose_no_fill_and_book_none_twice() -> None:
    run_faulty_sessions(range(SESSIONS), FUTURES)


@pytest.mark.soak
def test_two_hundred_faulty_futures_sessions_lose_no_fill_and_book_none_twice() -> None:
    run_faulty_sessions(range(2000, 2200), FUTURES)
