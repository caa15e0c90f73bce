"""What `dita status`, `orders` and `pnl` print of a state file's numbers and text: an order's
price and size as they are, a small loss or fee not as nothing, an amount the file does not hold
as unknown rather than 0, and text from the file that cannot drive the operator's terminal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from dita.cli import app

runner = CliRunner()


def _state(tmp_path: Path, kernel_id: str = "k", **fields: Any) -> Path:
    snap: dict[str, Any] = {
        "kernel_id": kernel_id,
        "pid": 1,
        "running": False,
        "account": {"equity": 10.0, "realized_pnl": 1.0, "k_fees_paid": 0.5, "unrealized_pnl": 0.0},
        "control": {"mode": "PAPER"},
        **fields,
    }
    (tmp_path / f"{kernel_id}.json").write_text(json.dumps(snap))
    return tmp_path


def _row(stdout: str, first: str) -> list[str]:
    """The cells of the table row whose first cell is ``first``."""
    for line in stdout.splitlines():
        if not line.startswith("│"):
            continue
        cells = [c.strip() for c in line.strip()[1:-1].split("│")]
        if cells[0] == first:
            return cells
    raise AssertionError(f"no row {first!r} in\n{stdout}")


def test_orders_shows_an_orders_price_and_size_as_they_are(tmp_path: Path) -> None:
    """A limit at 0.00001234 (PEPE) read 0.00 and one at 0.12345 (DOGE) 0.12; a size of
    12,345,678 read 1.23457e+07: the operator could not tell which order rests where."""

    def working(oid: str, asset: str, price: float, size: float, filled: float) -> dict[str, Any]:
        order = {"client_order_id": oid, "status": "NEW", "asset": asset, "side": "BUY"}
        order |= {"price": price, "size": size, "filled_size": filled}
        return {"fsm_state": "ENTRY_WORKING", "size": 0.0, "active_entry_order": order}

    slots = [
        working("o1", "PEPEUSDT", 0.00001234, 12_345_678.0, 1_234_567.5),
        working("o2", "DOGEUSDT", 0.12345, 100.0, 0.0),
        working("o3", "BTCUSDT", 65_000.0, 0.001, 0.0),
    ]
    result = runner.invoke(app, ["orders", "--state-dir", str(_state(tmp_path, slots=slots))])
    assert result.exit_code == 0, result.output
    rows = [line.strip()[1:-1].split("│") for line in result.stdout.splitlines() if line.startswith("│ k ")]
    assert [tuple(c.strip() for c in cells[6:9]) for cells in rows] == [
        ("0.00001234", "12,345,678", "1,234,567.5"),
        ("0.12345", "100", "0"),
        ("65,000.00", "0.001", "0"),
    ]


def test_a_small_loss_or_fee_is_not_shown_as_nothing(tmp_path: Path) -> None:
    """An account in a coin (or a small one): a loss of 0.0042 read -0.00, fees of 0.0011 read
    0.00 and an equity of 0.0523 read 0.05, which reads as no trading at all."""
    account = {"equity": 0.0523, "realized_pnl": -0.0042, "k_fees_paid": 0.0011, "unrealized_pnl": -0.0}
    account["k_funding_net"] = 0.0
    state = _state(tmp_path, account=account)
    status = runner.invoke(app, ["status", "--state-dir", str(state)])
    assert status.exit_code == 0, status.output
    equity, realized, unrealized, fees = _row(status.stdout, "k")[3:7]
    assert (equity, realized, unrealized, fees) == ("0.05", "-0.0042", "0.00", "0.0011")
    pnl = runner.invoke(app, ["pnl", "--state-dir", str(state)])
    assert pnl.exit_code == 0, pnl.output
    assert _row(pnl.stdout, "k")[4:9] == ["-0.0042", "0.0011", "0.00", "-0.01", "0.00"]


def test_pnl_shows_amounts_the_account_does_not_hold_as_unknown_not_zero(tmp_path: Path) -> None:
    """A state file whose account has no realized PnL, fees or unrealized PnL (an older
    version's, or null): `status` leaves them empty, and `pnl` read them as 0.00, a flat run."""
    state = _state(tmp_path, account={"equity": 10.0})
    result = runner.invoke(app, ["pnl", "--state-dir", str(state), "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert [row[k] for k in ("realized_pnl", "fees", "funding", "net_pnl", "unrealized_pnl")] == [None] * 5
    table = runner.invoke(app, ["pnl", "--state-dir", str(state)])
    assert table.exit_code == 0, table.output
    assert _row(table.stdout, "k")[4:9] == ["", "", "", "", ""]


def test_control_characters_of_a_kernel_id_are_shown_not_sent_to_the_terminal(tmp_path: Path) -> None:
    """The kernel takes any id without whitespace, ESC included: printed raw, `\\x1b[1A\\x1b[2K`
    in an id erased a line of the table (another kernel's), `\\x1b[8m` hid what followed."""
    kid = "k\x1b[1A\x1b[2Kx\u202e"
    slots = [
        {
            "fsm_state": "ENTRY_WORKING",
            "active_entry_order": {"client_order_id": "o\x07", "status": "NEW", "size": 1.0, "price": 5.0},
        }
    ]
    state = _state(tmp_path, kid, slots=slots, strategies=[{"name": "S\x1b[8m", "status": "RUNNING"}])
    for command in ("status", "orders", "pnl"):
        result = runner.invoke(app, [command, "--state-dir", str(state)])
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.stdout and "\u202e" not in result.stdout, command
        assert "\x07" not in result.stdout, command
        assert "k\\x1b[1A\\x1b[2Kx\\u202e" in result.stdout, (command, result.stdout)
    # --json keeps the id as it is (JSON escapes it).
    (row,) = json.loads(runner.invoke(app, ["status", "--state-dir", str(state), "--json"]).stdout)
    assert row["kernel_id"] == kid
