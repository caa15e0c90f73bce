"""What `dita status`, `orders` and `pnl --json` print of a state file is strict JSON, whatever
field of it the commands pass through without checking: a script (jq, JSON.parse) reads it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dita.cli import app

runner = CliRunner()


def _strict(constant: str) -> Any:
    raise ValueError(f"not JSON: {constant}")


def _state(tmp_path: Path, **fields: Any) -> Path:
    snap: dict[str, Any] = {
        "kernel_id": "k",
        "pid": 1,
        "running": False,
        "account": {"equity": 10.0, "realized_pnl": 1.0, "k_fees_paid": 0.5, "k_funding_net": 0.0},
        "control": {"mode": "PAPER"},
        **fields,
    }
    (tmp_path / "k.json").write_text(json.dumps(snap))  # Python writes NaN and Infinity bare
    return tmp_path


def test_orders_json_is_strict_json_for_an_orders_field_not_finite(tmp_path: Path) -> None:
    """An order's fields beyond those `dita orders` shows (avg_fill_price, created_at, ...) were
    printed as read: NaN or Infinity (a file edited by hand, a map entry typed in) came out as the
    bare words, which no JSON reader takes. They are null, as the projection writes them."""
    order = {"client_order_id": "o1", "slot_id": 0, "status": "NEW", "asset": "BTC", "side": "BUY"}
    order |= {"price": 100.0, "size": 1.0, "filled_size": 0.0}
    order |= {"avg_fill_price": float("nan"), "created_at": float("inf"), "extra": [float("-inf")]}
    slots = [{"fsm_state": "ENTRY_WORKING", "size": 0.0, "active_entry_order": order}]
    result = runner.invoke(app, ["orders", "--json", "--state-dir", str(_state(tmp_path, slots=slots))])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout, parse_constant=_strict)
    assert (row["client_order_id"], row["price"], row["size"]) == ("o1", 100.0, 1.0)
    assert (row["avg_fill_price"], row["created_at"], row["extra"]) == (None, None, [None])


@pytest.mark.parametrize("error", [float("nan"), {"at": float("inf")}])
def test_status_json_is_strict_json_for_a_strategys_error_not_finite(tmp_path: Path, error: Any) -> None:
    """A strategy's ``error`` is passed through as the file holds it: not finite, it was printed
    as NaN or Infinity."""
    strategies = [{"name": "S", "status": "ERROR", "error": error}]
    result = runner.invoke(
        app, ["status", "--json", "--state-dir", str(_state(tmp_path, strategies=strategies))]
    )
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout, parse_constant=_strict)
    assert row["strategies"][0]["name"] == "S"
