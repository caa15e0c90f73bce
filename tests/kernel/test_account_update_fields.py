"""An ACCOUNT_UPDATE carries balance and margin figures only: an ``amount`` or ``fee`` on one
is a figure the kernel does not read. Accepted, it would be dropped without a word while the
event's balances are applied, so it is refused naming the field (as a FUNDING_FEE's ``fee``
and a FILL_SETTLED's ``amount`` are)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dita import AccountEvent, ExecutionKernel, KernelDiagnosticCode

D = KernelDiagnosticCode


@pytest.mark.parametrize(("field", "value"), [("amount", 500.0), ("fee", 3.0)])
def test_an_account_update_with_an_amount_or_fee_is_refused_naming_it(field: str, value: float) -> None:
    k = ExecutionKernel(max_slots=1)
    k.set_seed_capital(10_000.0)
    before = k.account()
    out = k.on_account_event(AccountEvent("u1", "ACCOUNT_UPDATE", wallet_balance=10_500.0, **{field: value}))
    assert not out.accepted and out.diagnostic_code == D.INVALID_INTENT, out.details
    assert (out.details["field"], out.details["value"]) == (field, value)
    assert k.account() == before


def test_an_account_dict_with_a_bad_figure_raises_having_changed_nothing(tmp_path: Path) -> None:
    """The original kernel's dict form raises ValueError when the kernel refuses the event: its
    figures are checked before the kernel takes it, so that error changes nothing (no seq, no
    log record, no count), as bad input's error never does."""
    k = ExecutionKernel(max_slots=3, wal_dir=tmp_path / "wal")
    seq, counted, records = k.seq, k.stats()["account_events"], k.wal_info()["last_seq"]
    refused = r"account event refused: INVALID_INTENT \(ACCOUNT_UPDATE\).*wallet_balance"
    with pytest.raises(ValueError, match=refused):
        k.on_account_event({"kind": "ACCOUNT_UPDATE", "wallet_balance": float("nan")})
    assert (k.seq, k.stats()["account_events"], k.wal_info()["last_seq"]) == (seq, counted, records)
    k.close()
