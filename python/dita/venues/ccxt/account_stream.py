"""The account's figures from the user-data stream, as the kernel's account events
(``CcxtVenue.account_events()``), in the one currency the kernel's capital is counted in (the
``account_currency`` setting, else the quote or settle currency the traded markets share).

- Spot (``outboundAccountPosition``): an ACCOUNT_UPDATE whose ``available_margin`` is the
  currency's free balance and ``used_margin`` what open orders lock of it. No ``wallet_balance``:
  a spot account's cash is not the kernel's capital (an open position's cost has left it).
- USD-M futures (``ACCOUNT_UPDATE``): an ACCOUNT_UPDATE whose ``wallet_balance`` is the
  currency's wallet balance (``wb``: realised profit and fees in, unrealised out, as the kernel
  counts its capital), and, for a funding settlement (``m`` FUNDING_FEE), a FUNDING_FEE of the
  balance change ``bc`` carrying the same balance. Money moved in or out (``m`` DEPOSIT,
  WITHDRAW, a transfer) is the new balance alone, with a WARNING naming the amount: the kernel
  has no account event that adds it to K, so K and E differ by it.
- After each reconnect, the balance REST answers (``rest_balance``) is one more ACCOUNT_UPDATE,
  so what the stream lost while down is repaired.

An event's id is made of the frame's content (its time, currency and figures), so a frame sent
twice is one event and the kernel refuses the second as a duplicate; a balance older than the
one the kernel holds is refused as stale by the kernel too. Balances are held until taken,
only the newest kept (each supersedes the one before); payments are each kept.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from dita._kernel import AccountEvent, AccountEventKind

__all__ = ["AccountFacts", "account_currency"]

log = logging.getLogger("dita.venues.ccxt")

# Binance's ACCOUNT_UPDATE reasons (``m``) for money moved into or out of the wallet, not made or
# paid by trading: the kernel has no account event that adds it to its capital (K).
_MONEY_MOVED = frozenset(
    {"DEPOSIT", "WITHDRAW", "WITHDRAW_REJECT", "ADMIN_DEPOSIT", "ADMIN_WITHDRAW", "TRANSFER",
     "ASSET_TRANSFER", "MARGIN_TRANSFER", "COIN_SWAP_DEPOSIT", "COIN_SWAP_WITHDRAW"}
)  # fmt: skip


def account_currency(given: str | None, markets: list[dict[str, Any]], market_type: str) -> str | None:
    """The currency the account events are in: ``given``, else the quote (spot) or settle
    (futures) currency every one of ``markets`` shares; None when they share none."""
    if given is not None:
        return given
    key = "quote" if market_type == "spot" else "settle"
    currencies = {str(m.get(key)) for m in markets if m.get(key)}
    return currencies.pop() if len(currencies) == 1 else None


def _figure(entry: dict[str, Any], key: str) -> float | None:
    try:
        value = float(entry[key])
    except (KeyError, TypeError, ValueError):
        return None
    return value


class AccountFacts:
    """The stream's account events, made on the stream's thread and taken on the venue's."""

    def __init__(self, venue_name: str, currency: str | None) -> None:
        self._venue = venue_name
        self.currency = currency
        self._lock = threading.Lock()
        self._balance: AccountEvent | None = None
        self._payments: list[AccountEvent] = []

    def taken(self) -> list[AccountEvent]:
        """The events made since the last call, oldest first."""
        with self._lock:
            events = [*self._payments, *([self._balance] if self._balance is not None else [])]
            self._payments, self._balance = [], None
        return sorted(events, key=lambda e: e.timestamp)

    def spot_position(self, frame: dict[str, Any]) -> None:
        """An ``outboundAccountPosition``: the currency's free and locked balance."""
        at_ms = frame.get("u") or frame.get("E")
        for entry in frame.get("B") or []:
            if not isinstance(entry, dict) or entry.get("a") != self.currency:
                continue
            free, locked = _figure(entry, "f"), _figure(entry, "l")
            if free is None or locked is None or not isinstance(at_ms, int | float):
                log.warning(
                    "%s: an outboundAccountPosition not read (no time or figure): %r", self._venue, frame
                )
                continue
            self._update(
                f"{self._venue}-balance-{at_ms:.0f}-{self.currency}-{entry['f']}-{entry['l']}",
                at_ms / 1000.0,
                available_margin=free,
                used_margin=locked,
            )

    def futures_update(self, frame: dict[str, Any]) -> None:
        """An ``ACCOUNT_UPDATE``: the currency's wallet balance, and a funding settlement's payment."""
        update = frame.get("a") or {}
        at_ms = frame.get("T") or frame.get("E")
        reason = update.get("m") if isinstance(update, dict) else None
        for entry in update.get("B") or [] if isinstance(update, dict) else []:
            if not isinstance(entry, dict) or entry.get("a") != self.currency:
                continue
            wallet = _figure(entry, "wb")
            if wallet is None or not isinstance(at_ms, int | float):
                log.warning("%s: an ACCOUNT_UPDATE not read (no time or wb): %r", self._venue, frame)
                continue
            at = at_ms / 1000.0
            key = f"{at_ms:.0f}-{self.currency}-{entry['wb']}"
            change = _figure(entry, "bc")
            if reason == "FUNDING_FEE" and change:
                payment = AccountEvent(
                    f"{self._venue}-funding-{key}-{entry['bc']}",
                    AccountEventKind.FUNDING_FEE,
                    asset=self.currency or "",
                    amount=change,
                    wallet_balance=wallet,
                    timestamp=at,
                )
                with self._lock:
                    self._payments.append(payment)
            else:
                if reason in _MONEY_MOVED and change:
                    log.warning(
                        "%s: %s of %s %s moved the wallet balance to %s; the kernel's capital (K) "
                        "does not count money moved in or out, so E differs from K by %s from now on",
                        self._venue, reason, entry["bc"], self.currency, entry["wb"], entry["bc"],
                    )  # fmt: skip
                self._update(f"{self._venue}-balance-{key}", at, wallet_balance=wallet)

    def rest_balance(self, balance: dict[str, Any], market_type: str, exchange_now: float) -> None:
        """The balance ccxt's ``fetch_balance`` answered, as an ACCOUNT_UPDATE stamped with the
        account's update time where the answer has one, else ``exchange_now``."""
        if self.currency is None:
            return
        info = balance.get("info") if isinstance(balance.get("info"), dict) else {}
        assert isinstance(info, dict)
        updated_ms = info.get("updateTime")
        at_ms = (
            float(updated_ms)
            if isinstance(updated_ms, int | float) and updated_ms > 0
            else exchange_now * 1000
        )
        if market_type == "spot":
            figures = balance.get(self.currency) or {}
            free, used = _figure(figures, "free"), _figure(figures, "used")
            if free is None or used is None:
                return
            self._update(
                f"{self._venue}-balance-rest-{at_ms:.0f}-{self.currency}-{free!r}-{used!r}",
                at_ms / 1000.0,
                available_margin=free,
                used_margin=used,
            )
            return
        for entry in info.get("assets") or []:
            if isinstance(entry, dict) and entry.get("asset") == self.currency:
                # The wallet balance only, as the stream gives it: an available margin no frame
                # refreshes would cap the kernel's capital at its value long after.
                wallet = _figure(entry, "walletBalance")
                if wallet is None:
                    return
                self._update(
                    f"{self._venue}-balance-rest-{at_ms:.0f}-{self.currency}-{wallet!r}",
                    at_ms / 1000.0,
                    wallet_balance=wallet,
                )

    def _update(
        self,
        event_id: str,
        at: float,
        *,
        wallet_balance: float | None = None,
        available_margin: float | None = None,
        used_margin: float | None = None,
    ) -> None:
        event = AccountEvent(
            event_id,
            AccountEventKind.ACCOUNT_UPDATE,
            asset=self.currency or "",
            wallet_balance=wallet_balance,
            available_margin=available_margin,
            used_margin=used_margin,
            timestamp=at,
        )
        with self._lock:
            if self._balance is None or self._balance.timestamp <= at:
                self._balance = event
