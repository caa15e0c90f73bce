"""The positions compared: the kernel's net position per asset with the venue's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dita.reconcile.answers import QTY_EPS, _finite
from dita.reconcile.report import ReconciliationReport

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel


def kernel_positions(kernel: ExecutionKernel) -> dict[str, float]:
    """The kernel's net position per asset, each under the name the venue's ``positions()``
    gives it (``position_asset`` where the venue has it: a ccxt symbol, ``BTC/USDT``, is listed
    by its market id, and one position read under both names would be two mismatches)."""
    named = getattr(kernel.venue, "position_asset", None)
    names: dict[str, str] = {}

    def position_asset(asset: str) -> str:
        if asset not in names:
            names[asset] = asset  # compared under the kernel's name, as without this hook
            if callable(named):
                try:
                    names[asset] = str(named(asset)) or asset
                except Exception:
                    pass
        return names[asset]

    net: dict[str, float] = {}
    for s in kernel.slots():
        if s["size"] > QTY_EPS:
            sign = 1.0 if s["side"] == "LONG" else -1.0
            asset = position_asset(s["asset"])
            net[asset] = net.get(asset, 0.0) + sign * s["size"]
    return net


def _compare_positions(kernel: ExecutionKernel, venue: Any, report: ReconciliationReport) -> None:
    """Each asset whose position differs between kernel and venue, in ``position_mismatches``;
    why the venue's positions could not be compared, in ``positions_unchecked``. Never raises:
    the events before it are applied, and the report of them must not be lost."""
    try:
        venue_positions = dict(venue.positions())
    except Exception as exc:
        report.positions_unchecked = f"the venue's positions could not be read: {type(exc).__name__}: {exc}"
        return
    for asset, qty in venue_positions.items():
        # A NaN would pass for no position (and match a flat kernel); text or None would raise
        # here, after every event of this run is applied, and lose the report of them.
        if not _finite(qty):
            report.positions_unchecked = (
                f"the venue's positions are malformed: {asset!r} is {qty!r}, not a finite number"
            )
            return
        # An asset that is not a name (None where an adapter found no symbol) would break the
        # sort of the assets below with a TypeError, after this run's events are applied. A flat
        # one is left out below: nothing to compare.
        if not isinstance(asset, str) and abs(qty) > QTY_EPS:
            report.positions_unchecked = (
                f"the venue's positions are malformed: an asset is {asset!r}, not a str "
                f"(its position {qty!r})"
            )
            return
    theirs_pos = {a: q for a, q in venue_positions.items() if abs(q) > QTY_EPS}
    mine_pos = kernel_positions(kernel)
    for asset in sorted(set(theirs_pos) | set(mine_pos)):
        v, k = theirs_pos.get(asset, 0.0), mine_pos.get(asset, 0.0)
        if abs(v - k) > QTY_EPS * max(1.0, abs(v)):
            report.position_mismatches.append({"asset": asset, "venue": v, "kernel": k, "difference": v - k})
