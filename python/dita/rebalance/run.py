"""One rebalance, start to end: the plan made from the venue's account (or the plan written by
an earlier run of the same targets, which a resumed run continues), written before the first
order is sent, the legs sent through the kernel, and the report written beside it.

The plans and reports of a targets file live under ``state_dir/plans`` and ``state_dir/reports``,
named by the file's content hash (and from its second plan on, ``-N``; ``HASH.attempts`` keeps how
many were written, a plan moved aside or removed counted too). A plan made afresh is numbered past
those and past every number under which one of its intent ids is one the kernel took (it would
refuse it), so no state dir (or a new one) takes their ids either. A run killed mid-way and
started again on the same file and the same write-ahead log sends only what the kernel has not
taken, and the legs it has not taken whose price has moved beyond ``RESUME_PRICE_TOLERANCE``
since the plan was written are planned again from the account (``repriced``). A plan is taken
up only on the log it was written with (``LogPosition``); a plan that ran to its end is not
taken up: the file is planned afresh, from the account, under ids of its own."""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dita._files import replace_whole
from dita._kernel import WalError
from dita._wal_files import first_kept_seq
from dita.rebalance.audit import record_hash
from dita.rebalance.execute import (
    FILL_WAIT_S,
    LegResult,
    kernel_names,
    named_positions,
    open_trades,
    read_account,
    reference_prices,
    refuse_weights_priced_elsewhere,
    send_plan,
    unsent_legs,
    working_quantities,
)
from dita.rebalance.plan import (
    TRADE_PREFIX,
    Account,
    AccountUnreadable,
    Leg,
    LogPosition,
    OpenTrade,
    Plan,
    PlanError,
    decimal,
    held_with_working,
    in_send_order,
    make_plan,
    plan_from_json,
    plan_json,
    plan_version,
    trade_id,
)
from dita.rebalance.report import report_json
from dita.rebalance.sent_before import LoggedOrder, LogUnread, orders_in_log
from dita.rebalance.targets import TargetPortfolio
from dita.reconcile import ReconciliationReport
from dita.venues.protocol import VenueUnavailable

__all__ = [
    "RESUME_PRICE_TOLERANCE",
    "KernelLog",
    "RebalanceRun",
    "dry_run",
    "finished",
    "kernel_log",
    "plan_path",
    "plan_rebalance",
    "positions_apart",
    "rebalance",
    "rebalanced_to",
    "record_attempts",
    "refuse_another_log",
    "repriced",
    "resumed_plan",
]


# How far, as a share of the price a resumed plan's leg was sized at, the venue's price may have
# moved before the legs of its symbol not yet sent are planned again from the account.
RESUME_PRICE_TOLERANCE = 0.01

# The file under state_dir/plans naming the last plan written there: an older one is not taken
# up (a targets file restored after a newer one is planned afresh, to be back on its targets).
NEWEST_PLAN = "newest"


@dataclass
class RebalanceRun:
    plan: Plan
    resumed: bool  # the plan is the one an earlier run of these targets wrote
    results: list[LegResult]
    report: dict[str, Any]
    report_path: Path | None


def plan_path(state_dir: Path, portfolio: TargetPortfolio, attempt: int = 1) -> Path:
    """Where the ``attempt``-th plan of ``portfolio`` in ``state_dir`` is written."""
    version = portfolio.content_hash[:24] if attempt == 1 else f"{portfolio.content_hash[:24]}-{attempt}"
    return state_dir / "plans" / f"{version}.json"


def _report_path(written: Path) -> Path:
    return written.parent.parent / "reports" / written.name


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_whole(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2, sort_keys=True)))


def _attempts(state_dir: Path, portfolio: TargetPortfolio) -> int:
    """How many plans of ``portfolio`` were written in ``state_dir``: the plan files it holds
    (numbered from 1, none missing), or more where its ``.attempts`` file records more (a plan
    moved aside or removed is still counted, so no later plan takes its ids)."""
    attempts = 0
    while plan_path(state_dir, portfolio, attempts + 1).exists():
        attempts += 1
    return max(attempts, _recorded_attempts(state_dir, portfolio))


def _attempts_path(state_dir: Path, portfolio: TargetPortfolio) -> Path:
    return state_dir / "plans" / f"{portfolio.content_hash[:24]}.attempts"


def _recorded_attempts(state_dir: Path, portfolio: TargetPortfolio) -> int:
    path = _attempts_path(state_dir, portfolio)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return 0
    except OSError as exc:
        raise PlanError(f"{path} cannot be read: {exc}") from None
    if not (text.strip().isascii() and text.strip().isdigit()):
        # Counted as 0, a plan made afresh could take the ids of one the kernel took.
        said = text.strip()[:40]
        raise PlanError(f"{path} holds {said!r}, not the number of plans written for these targets")
    return int(text)


def record_attempts(state_dir: Path, portfolio: TargetPortfolio, attempts: int = 0) -> None:
    """Records in ``state_dir`` that ``portfolio`` has had ``attempts`` plans, or as many as its
    plan files say when more, before one is taken up or refused: a plan file moved aside or
    removed after leaves its number taken, and a plan made afresh is numbered past it."""
    attempts = max(attempts, _attempts(state_dir, portfolio))
    if attempts > _recorded_attempts(state_dir, portfolio):
        path = _attempts_path(state_dir, portfolio)
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_whole(path, lambda tmp: tmp.write_text(f"{attempts}\n"))


def _attempt_held(portfolio: TargetPortfolio, trades: tuple[OpenTrade, ...]) -> int:
    """The highest of ``portfolio``'s plans whose trades the kernel holds open (0: none), which
    a plan made afresh is numbered past wherever the state dir's count was lost."""
    version = trade_id(portfolio, "").removesuffix(":")
    held = 0
    for trade in trades:
        named = trade.trade_id.removeprefix(version)
        if named == trade.trade_id:
            continue
        if named.startswith(":"):
            held = max(held, 1)
        elif named.startswith("-") and (n := named[1:].partition(":")[0]).isdigit():
            held = max(held, int(n))
    return held


def finished(state_dir: Path, portfolio: TargetPortfolio) -> bool:
    """Whether the last run of these targets ran to its end (its report is written)."""
    attempts = _attempts(state_dir, portfolio)
    return attempts > 0 and _report_path(plan_path(state_dir, portfolio, attempts)).exists()


def _newest(state_dir: Path, written: Path) -> bool:
    """Whether ``written`` is the last plan written under ``state_dir`` (``NEWEST_PLAN`` names
    it; a state dir without that file, its plans put there by hand, holds no other)."""
    newest = state_dir / "plans" / NEWEST_PLAN
    return not newest.exists() or newest.read_text().strip() == written.name


def rebalanced_to(state_dir: Path, portfolio: TargetPortfolio) -> bool:
    """Whether the last plan written under ``state_dir`` is ``portfolio``'s and ran to its end:
    the account was brought to it, and to no other file since."""
    attempts = _attempts(state_dir, portfolio)
    return finished(state_dir, portfolio) and _newest(state_dir, plan_path(state_dir, portfolio, attempts))


def resumed_plan(state_dir: Path, portfolio: TargetPortfolio) -> Plan | None:
    """The plan the last run of ``portfolio`` wrote under ``state_dir`` and did not run to its
    end, which a run now resumes (None: none written; one finished: the positions it brought on
    target are planned afresh, which sends what they are off it; or one another file's plan was
    written after: made from an account since rebalanced to that file, it is planned afresh).
    Raises PlanError for a plan that cannot be read."""
    attempts = _attempts(state_dir, portfolio)
    if attempts == 0 or finished(state_dir, portfolio):
        return None
    written = plan_path(state_dir, portfolio, attempts)
    return _written_plan(written) if _newest(state_dir, written) else None


def _written_plan(written: Path) -> Plan | None:
    if not written.exists():
        return None
    try:
        return plan_from_json(json.loads(written.read_text()))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        # Not replaced unasked: it may be half sent, and its operator says when to plan afresh.
        raise PlanError(
            f"the plan written for these targets, {written}, cannot be read: {type(exc).__name__}: {exc}. "
            f"Give back a plan this version reads, or move {written} aside to plan afresh from the "
            "account as the venue states it, under ids of its own"
        ) from None


def plan_rebalance(
    venue: Any,
    portfolio: TargetPortfolio,
    *,
    state_dir: Path | None,
    quote_currency: str,
    trades: tuple[OpenTrade, ...] = (),
    working: dict[str, float] | None = None,
    stale_prices: Mapping[str, str] | None = None,
    taken: Callable[[str], bool] | None = None,
) -> tuple[Plan, Account | None]:
    """The plan an earlier run of ``portfolio`` wrote under ``state_dir`` (the account None), or
    one made from the account ``venue`` states, with the kernel's open ``trades``, what its
    ``working`` orders have left to fill, and the venue's ``stale_prices`` it does not trade at
    (``read_account``), numbered past each plan number under which one of its intent ids is
    ``taken`` (the kernel's ``intent_taken``: it would refuse it)."""
    written = resumed_plan(state_dir, portfolio) if state_dir is not None else None
    if written is not None:
        return written, None
    with _venue_read("account"):
        account = read_account(venue, portfolio.symbols(), quote_currency, trades, working, stale_prices)
        refuse_weights_priced_elsewhere(venue, portfolio, quote_currency)
    written_before = _attempts(state_dir, portfolio) if state_dir is not None else 0
    attempt = max(written_before, _attempt_held(portfolio, trades)) + 1
    plan = make_plan(portfolio, account)
    numbered = _numbered(plan, portfolio, attempt)
    # The kernel's memory of the ids it took outlives a lost or new state dir and any log.
    while taken is not None and any(taken(leg.intent_id) for leg in numbered.legs):
        attempt += 1
        numbered = _numbered(plan, portfolio, attempt)
    return numbered, account


def repriced(
    venue: Any,
    portfolio: TargetPortfolio,
    plan: Plan,
    unsent: list[Leg],
    *,
    quote_currency: str,
    trades: tuple[OpenTrade, ...],
    working: dict[str, float] | None,
    stale_prices: Mapping[str, str] | None,
    taken: Callable[[str], bool],
    tolerance: float,
) -> tuple[Plan, Account | None]:
    """The written ``plan`` with each symbol whose ``unsent`` legs (``unsent_legs``) were sized at
    a price the venue's has moved from by more than ``tolerance`` of it planned again from the
    account: those legs are replaced by the symbol's legs made afresh (its target quantity at
    the price now), each under a retry id of its own (``ID:retry-N``, N past those ``taken``),
    after the legs the kernel took. The account read for it, None when no price moved beyond
    ``tolerance`` (``plan`` returned as it is). A symbol ``stale_prices`` names is not repriced:
    its legs read "no price" (``send_plan``)."""
    unpriced = stale_prices or {}
    now = _prices_now(venue, {leg.symbol for leg in unsent if leg.symbol not in unpriced})
    moved: dict[str, tuple[float, float]] = {}
    for leg in unsent:
        price = now.get(leg.symbol)
        if (
            price is not None
            and leg.symbol not in moved
            and abs(price - leg.reference_price) > tolerance * leg.reference_price
        ):
            moved[leg.symbol] = (leg.reference_price, price)
    if not moved:
        return plan, None
    account = _account(venue, portfolio, quote_currency, trades, working, stale_prices)
    again = replace(portfolio, targets=tuple(t for t in portfolio.targets if t.symbol in moved))
    fresh = _numbered(make_plan(again, account), portfolio, plan.attempt)
    replaced = {leg.intent_id for leg in unsent if leg.symbol in moved}
    unsent_ids = {leg.intent_id for leg in unsent}
    sent = [leg for leg in plan.legs if leg.intent_id not in unsent_ids]
    kept = {leg.intent_id for leg in plan.legs if leg.intent_id not in replaced}
    legs = [leg for leg in unsent if leg.intent_id not in replaced]
    for leg in fresh.legs:
        retry = 1
        while taken(f"{leg.intent_id}:retry-{retry}") or f"{leg.intent_id}:retry-{retry}" in kept:
            retry += 1
        legs.append(replace(leg, intent_id=f"{leg.intent_id}:retry-{retry}"))
    said = [
        f"{symbol}: planned at {was:g}, now {price:g}, moved beyond the {tolerance:g} of its price a "
        "resumed plan's legs are sent within: its legs not sent are planned again from the account"
        for symbol, (was, price) in moved.items()
    ]
    return replace(
        plan,
        prices={**plan.prices, **{s: account.prices[s] for s in moved if s in account.prices}},
        targets={**plan.targets, **fresh.targets},
        legs=(*sent, *in_send_order(legs, held_with_working(account))),
        skipped=(*(s for s in plan.skipped if s.symbol not in moved), *fresh.skipped),
        warnings=(*plan.warnings, *said),
    ), account


def _check_tolerance(price_tolerance: float) -> None:
    if not (math.isfinite(price_tolerance) and price_tolerance >= 0):
        raise ValueError(f"price_tolerance {price_tolerance!r} is not a finite share of the price, 0 or more")


def _prices_now(venue: Any, symbols: set[str]) -> dict[str, float]:
    """``reference_prices`` of ``symbols``, read as ``_venue_read`` says."""
    with _venue_read("prices"):
        return reference_prices(venue, symbols)


def _account(
    venue: Any,
    portfolio: TargetPortfolio,
    quote_currency: str,
    trades: tuple[OpenTrade, ...],
    working: dict[str, float] | None,
    stale_prices: Mapping[str, str] | None,
) -> Account:
    """The account ``venue`` states for ``portfolio`` (``read_account``), read as ``_venue_read``
    says."""
    with _venue_read("account"):
        return read_account(venue, portfolio.symbols(), quote_currency, trades, working, stale_prices)


@contextlib.contextmanager
def _venue_read(what: str) -> Iterator[None]:
    """A read of the venue's ``what`` (its account, its prices): AccountUnreadable when the venue
    cannot be asked, PlanError when its answer cannot be read (a balance of no currency)."""
    try:
        yield
    except VenueUnavailable as exc:
        raise AccountUnreadable(f"the {what} could not be read from the venue: {exc}") from exc
    except PlanError:
        raise
    except ValueError as exc:
        raise PlanError(f"the venue's {what} cannot be read: {exc}") from exc


def _numbered(plan: Plan, portfolio: TargetPortfolio, attempt: int) -> Plan:
    """``plan`` as the ``attempt``-th of ``portfolio`` in its state dir: from the second on its
    intents, and the trades it opens, are named by ``plan_version``, so the kernel does not
    refuse them as the legs an earlier run of the file sent. An exit names the trade it exits."""
    if attempt == 1:
        return plan
    first = trade_id(portfolio, "")
    then = f"{TRADE_PREFIX}{portfolio.source_run}:{plan_version(portfolio, attempt)}:"

    def renamed(name: str) -> str:
        return then + name.removeprefix(first) if name.startswith(first) else name

    legs = tuple(
        replace(
            leg,
            intent_id=renamed(leg.intent_id),
            trade_id=renamed(leg.trade_id) if leg.action == "ENTER" else leg.trade_id,
        )
        for leg in plan.legs
    )
    return replace(plan, legs=legs, attempt=attempt)


def _log_position(kernel: Any) -> LogPosition | None:
    """Where the kernel's log is (None: it keeps none), synced: a plan naming a record the log
    lost would be refused. An empty log is given a record first (the control's source), as
    every new log of one kernel id starts at the same hash."""
    info = kernel.wal_info()
    if info is None:
        return None
    if info["last_seq"] == 0:
        kernel.update_control(source="dita-rebalance")
    kernel.wal_sync()
    info = kernel.wal_info()
    return LogPosition(kernel.kernel_id, info["last_seq"], info["head_hash"])


@dataclass(frozen=True)
class KernelLog:
    """A kernel's write-ahead log as a written plan is judged against it: the kernel's id, its
    directory, the seq of its last record (0: none yet) and that record's chain hash."""

    kernel_id: str
    dir: Path
    last_seq: int
    head_hash: str


def kernel_log(kernel: Any) -> KernelLog | None:
    """``kernel``'s log (None: it keeps none)."""
    info = kernel.wal_info()
    if info is None:
        return None
    return KernelLog(kernel.kernel_id, Path(info["dir"]), info["last_seq"], info["head_hash"])


def refuse_another_log(
    plan: Plan, written: Path, log: KernelLog | None, trades: tuple[OpenTrade, ...]
) -> None:
    """PlanError, nothing sent, for the plan ``written`` when ``log`` (None: the kernel keeps
    none) does not hold it (``LogPosition``): a new log, or another's. Its legs may have gone
    out on the log it was written with, and on this one the kernel would not refuse them as
    duplicates: sent again, they would be bought or sold twice. ``trades``: the kernel's open
    trades, which vouch for a plan whose record is in segments archived."""
    at = plan.written_at
    here = "this kernel keeps no log" if log is None else _not_held(plan, log, trades)
    if here is None:
        return
    sent_on = (
        "by a kernel that keeps no log"
        if at is None
        else f"on kernel {at.kernel_id}'s log at seq {at.seq:,} (hash {at.head_hash[:16]}...)"
    )
    raise PlanError(
        f"the plan written for these targets, {written}, was sent {sent_on}, and {here}: its legs "
        "may have gone out there, and sent again here they would trade twice. Give back the log it "
        f"was sent on, or move {written} aside to plan afresh from the account as the venue states "
        "it, under ids of its own"
    )


def _not_held(plan: Plan, log: KernelLog, trades: tuple[OpenTrade, ...]) -> str | None:
    """Why ``log`` does not hold ``plan`` (None: it does: its record at the plan's seq has the
    plan's hash, or that record is archived and the kernel holds a trade the plan opened)."""
    at = plan.written_at
    if at is None:
        return f"the log in {log.dir} does not hold it"
    if at.kernel_id != log.kernel_id:
        return f"the log in {log.dir} does not hold it (it is kernel {log.kernel_id}'s)"
    if log.last_seq == 0:
        return f"the log in {log.dir} does not hold it (it holds no record)"
    if at.seq > log.last_seq:
        return f"the log in {log.dir} does not hold it (it ends at seq {log.last_seq:,})"
    try:
        held = log.head_hash if at.seq == log.last_seq else record_hash(log.dir, at.seq)
        first = first_kept_seq(log.dir) if held is None else None
    except (WalError, OSError) as exc:  # a segment that cannot be read proves nothing
        return f"the log in {log.dir} cannot be read at seq {at.seq:,} ({exc})"
    if held == at.head_hash:
        return None
    if held is not None:
        return f"the log in {log.dir} does not hold it (its record at seq {at.seq:,} has hash {held[:16]}...)"
    if first is not None and at.seq >= first:
        return f"the log in {log.dir} does not hold it (it keeps no record of seq {at.seq:,})"
    opened = {leg.trade_id for leg in plan.legs if leg.action == "ENTER"}
    if any(trade.trade_id in opened for trade in trades):
        # Its record archived, the kernel's own trade of it says the log is the plan's.
        return None
    kept = "no segment" if first is None else f"its records from seq {first:,} on"
    return (
        f"whether the log in {log.dir} holds it cannot be told: it keeps {kept}, the ones before "
        "archived, and the kernel holds no trade the plan opened (put the archived segments back "
        "to take it up)"
    )


def dry_run(
    venue: Any,
    portfolio: TargetPortfolio,
    *,
    state_dir: Path | None,
    quote_currency: str,
    trades: tuple[OpenTrade, ...] = (),
    working: dict[str, float] | None = None,
    stale_prices: Mapping[str, str] | None = None,
    on_log: KernelLog | None = None,
    price_tolerance: float = RESUME_PRICE_TOLERANCE,
    logged: Any | None = None,
) -> RebalanceRun:
    """The plan ``rebalance`` would send, and its report, with nothing written or sent. A written
    plan is refused as ``rebalance`` refuses it on ``on_log``, the log the run would take it up
    on (None: not checked), its legs the run would send at their size repriced as ``rebalance``
    reprices them, and its legs of a symbol ``stale_prices`` names read "no price". ``logged``:
    the kernel of ``on_log`` (``wal_replay``), which tells those legs as the run does
    (``unsent_legs``: a leg whose order filled nothing goes again); without it, the legs
    ``on_log`` has not taken."""
    _check_tolerance(price_tolerance)
    # As ``rebalance`` names them: by the kernel's open trades and its working orders.
    assets = kernel_names(venue, portfolio.symbols(), [*(trade.symbol for trade in trades), *(working or {})])
    trades, working = _as_targets(assets, trades, working)
    plan, account = plan_rebalance(
        venue,
        portfolio,
        state_dir=state_dir,
        quote_currency=quote_currency,
        trades=trades,
        working=working,
        stale_prices=stale_prices,
        taken=None if logged is None else logged.intent_taken,
    )
    results: list[LegResult] = []
    if account is None:
        if state_dir is not None and on_log is not None:
            refuse_another_log(plan, plan_path(state_dir, portfolio, plan.attempt), on_log, trades)
        orders = _logged_orders(plan, on_log)
        taken = set(orders)
        plan, _ = repriced(
            venue,
            portfolio,
            plan,
            [leg for leg in plan.legs if leg.intent_id not in taken]
            if logged is None
            else unsent_legs(logged, plan, orders),
            quote_currency=quote_currency,
            trades=trades,
            working=working,
            stale_prices=stale_prices,
            taken=taken.__contains__ if logged is None else logged.intent_taken,
            tolerance=price_tolerance,
        )
        # Sized in an earlier run, a leg the kernel has not taken is not sent at the venue's
        # stale price (``send_plan``).
        unpriced = stale_prices or {}
        if any(leg.symbol in unpriced for leg in plan.legs):
            results = [
                LegResult(leg, "no price", reason=unpriced[leg.symbol])
                for leg in plan.legs
                if leg.symbol in unpriced and leg.intent_id not in taken
            ]
    report = report_json(plan, results, None, dry_run=True)
    return RebalanceRun(plan, account is None, results, report, None)


def _as_targets(
    assets: Mapping[str, str], trades: tuple[OpenTrade, ...], working: dict[str, float] | None
) -> tuple[tuple[OpenTrade, ...], dict[str, float] | None]:
    """``trades`` and ``working`` with the kernel's name of a target's market (``kernel_names``:
    BTC/USDT) as the target spells it (BTCUSDT), so an order of the target exits the trades the
    kernel holds of it and counts what its working orders have left."""
    target = {asset: symbol for symbol, asset in assets.items()}
    renamed = tuple(replace(t, symbol=target.get(t.symbol, t.symbol)) for t in trades)
    if working is None:
        return renamed, None
    counted: dict[str, float] = {}
    for asset, left in working.items():
        symbol = target.get(asset, asset)
        counted[symbol] = float(decimal(counted.get(symbol, 0.0)) + decimal(left))
    return renamed, counted


def _logged_orders(plan: Plan, log: KernelLog | None) -> dict[str, LoggedOrder]:
    """The orders of ``plan``'s legs (and their retries) ``log`` took after the plan was written,
    by intent id, read from a copy of it; none where it cannot be read there, as the run then
    finds none."""
    if log is None or log.last_seq == 0:
        return {}
    since = 1 if plan.written_at is None else plan.written_at.seq + 1
    try:
        return orders_in_log(log.dir, log.kernel_id, since, (leg.intent_id for leg in plan.legs))
    except LogUnread:
        return {}


def positions_apart(reconciled: ReconciliationReport) -> list[str]:
    """The positions the venue and the kernel's trades were found to hold apart (and why they
    could not be compared), one warning each."""
    said = [
        f"{m['asset']}: the venue holds {m['venue']!r}, the kernel's trades {m['kernel']!r} (reconciliation "
        "found them apart: the account is not what the kernel's log says)"
        for m in reconciled.position_mismatches
    ]
    if reconciled.positions_unchecked:
        said.append(f"the positions were not reconciled with the kernel's: {reconciled.positions_unchecked}")
    return said


def rebalance(
    kernel: Any,
    portfolio: TargetPortfolio,
    *,
    state_dir: Path | None,
    quote_currency: str,
    fill_wait_s: float = FILL_WAIT_S,
    before_send: Callable[[], object] | None = None,
    after_leg: Callable[[LegResult], object] | None = None,
    reconciled: ReconciliationReport | None = None,
    stale_prices: Mapping[str, str] | None = None,
    price_tolerance: float = RESUME_PRICE_TOLERANCE,
) -> RebalanceRun:
    """Plans (or takes up the written plan of, on the log it was written with: else PlanError,
    ``refuse_another_log``; its legs not sent whose price moved beyond ``price_tolerance`` of it
    planned again, ``repriced``) ``portfolio`` on ``kernel``'s venue and sends it, ``before_send``
    called once the plan is going out, ``after_leg`` after each leg.
    ``state_dir`` None keeps no plan or report. ``reconciled``: the reconciliation of a kernel
    recovered from its log with the venue, whose positions found apart the report's warnings
    say. ``stale_prices``: the venue's prices not this run's, which it does not trade at."""
    _check_tolerance(price_tolerance)
    venue = kernel.venue
    if state_dir is not None:
        record_attempts(state_dir, portfolio)
    held = [slot["asset"] for slot in kernel.slots() if slot["fsm_state"] == "POSITION_OPEN"]
    assets = kernel_names(venue, portfolio.symbols(), [*held, *(o.asset for o in kernel.open_orders())])
    trades, working = _as_targets(assets, open_trades(kernel), working_quantities(kernel))
    plan, account = plan_rebalance(
        venue,
        portfolio,
        state_dir=state_dir,
        quote_currency=quote_currency,
        trades=trades,
        working=working,
        stale_prices=stale_prices,
        taken=kernel.intent_taken,
    )
    resumed = account is None
    written = plan_path(state_dir, portfolio, plan.attempt) if state_dir is not None else None
    if resumed:
        assert written is not None
        refuse_another_log(plan, written, kernel_log(kernel), trades)
        plan, account = repriced(
            venue,
            portfolio,
            plan,
            unsent_legs(kernel, plan),
            quote_currency=quote_currency,
            trades=trades,
            working=working,
            stale_prices=stale_prices,
            taken=kernel.intent_taken,
            tolerance=price_tolerance,
        )
    if account is not None:
        # The kernel floors each leg by the same limits the plan rounded it to.
        for symbol, limits in account.limits.items():
            kernel.set_market_limits(assets.get(symbol, symbol), limits.model_dump())
        if state_dir is not None and written is not None:
            # Before the first order: a run killed after it resumes this plan, not one made
            # from the account it left half rebalanced; on this log only, which holds its legs.
            # A plan repriced keeps where it was first written: its legs sent before follow it.
            if not resumed:
                plan = replace(plan, written_at=_log_position(kernel))
            _write_json(written, plan_json(plan))
            record_attempts(state_dir, portfolio, plan.attempt)
            newest = written.parent / NEWEST_PLAN
            replace_whole(newest, lambda tmp: tmp.write_text(f"{written.name}\n"))
    if before_send is not None:
        before_send()
    # A written plan's legs were sized in an earlier run: one of a symbol not priced in this one
    # is not sent at the venue's stale price.
    results = send_plan(
        kernel, plan, fill_wait_s=fill_wait_s, after_leg=after_leg, stale_prices=stale_prices, assets=assets
    )
    if reconciled is not None:
        # Said in this report only: a plan resumed later says what its own run finds.
        plan = replace(plan, warnings=(*plan.warnings, *positions_apart(reconciled)))
    try:
        after: dict[str, float] | None = named_positions(venue, plan.targets)
    except VenueUnavailable as exc:
        # The legs went out: their report is written all the same, the positions after unknown.
        after = None
        plan = replace(plan, warnings=(*plan.warnings, f"the positions after could not be read: {exc}"))
    report = report_json(plan, results, after)
    report_path = None
    if written is not None:
        report_path = _report_path(written)
        _write_json(report_path, report)
    return RebalanceRun(plan, resumed, results, report, report_path)
