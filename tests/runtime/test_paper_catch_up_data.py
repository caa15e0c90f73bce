"""`dita paper --wal-dir` continued after a run killed between two saves: the rows the killed
run handled after its last save are not replayed (the kernel acted on them), but the paper
venue's book saved before them must still be as the killed run's venue left it, so that the
continued run fills as a run continued from a clean stop does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dita.cli import app

from .test_paper_catch_up import KERNEL, _state, _twins

runner = CliRunner()
T0 = 1_704_067_200

STRATEGY = """
from dita.strategy import Bar, Strategy

T0 = 1_704_067_200


class BidThenBuyOther(Strategy):
    \"\"\"A BTCUSDT buy limit at 96 on bar 2; an ETHUSDT market buy on bar 4 (the kernel's last
    act, its fill, is on bar 5).\"\"\"

    data = ("bars",)

    def on_bar(self, bar: Bar) -> None:
        if bar.asset == "BTCUSDT" and bar.ts == T0 + 120:
            self.buy(bar.asset, 1.0, price=bar.close, limit=96.0)
        if bar.asset == "ETHUSDT" and bar.ts == T0 + 240:
            self.buy(bar.asset, 1.0, price=bar.close)
"""


@pytest.fixture
def strategy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "paper_catch_up_data.py").write_text(STRATEGY)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "paper_catch_up_data:BidThenBuyOther"


def _bars(path: Path, n: int, *, opens: dict[int, float] | None = None) -> Path:
    """``n`` one-minute bars of BTCUSDT and ETHUSDT at 100 (low 99), but the BTCUSDT opens named."""
    opens = opens or {}
    rows = ["timestamp,asset,open,high,low,close,volume"]
    for i in range(n):
        o = opens.get(i, 100.0)
        rows.append(f"{T0 + 60 * i},BTCUSDT,{o},101,{min(o, 99.0)},100,1000")
        rows.append(f"{T0 + 60 * i},ETHUSDT,100,101,99,100,1000")
    path.write_text("\n".join(rows) + "\n")
    return path


def _paper(base: Path, strategy: str, data: Path, *extra: str) -> Any:
    args = ["paper", "--strategy", strategy, "--data", str(data), "--max-speed", "--kernel-id", KERNEL]
    args += ["--state-dir", str(base / "state"), "--wal-dir", str(base / "wal")]
    result = runner.invoke(app, [*args, *extra])
    assert result.exit_code == 0, result.output
    return result


def _fills(snap: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(f["ts"], f["asset"], f["side"], f["price"], f["qty"], f["fee"]) for f in snap["fills"]]


def test_a_book_order_the_skipped_rows_passed_rests_as_in_the_unbroken_run(
    tmp_path: Path, strategy: str
) -> None:
    """The bid at 96 is sent on bar 2, the last save's; bar 3 passes it unfilled (it rests), the
    ETHUSDT buy fills on bar 5 and the run is killed. The continued run skips bars 3 to 5 (the
    kernel acted up to bar 5); bar 6 opens at 95.66. A run continued from the clean stop fills
    the resting bid as a maker at its limit, 96, and so does the killed one's: a venue that
    never saw bar 3 would not have the order resting, and would fill it as a taker at the open,
    better for the strategy than the unbroken run."""
    _paper(tmp_path, strategy, _bars(tmp_path / "a.csv", 3))
    early = (tmp_path / "state" / f"{KERNEL}.json").read_text()
    [order] = json.loads(early)["venue"]["orders"]
    assert order["resting"] is False
    _paper(tmp_path, strategy, _bars(tmp_path / "b.csv", 6))
    clean, killed = _twins(tmp_path, early)

    data = _bars(tmp_path / "c.csv", 9, opens={6: 95.66})
    _paper(clean, strategy, data)
    res = _paper(killed, strategy, data)
    assert "the write-ahead log goes on to the kernel's last act" in res.stderr
    want, got = _state(clean), _state(killed)
    assert [(f[1], f[3]) for f in _fills(want)] == [("ETHUSDT", pytest.approx(100.02)), ("BTCUSDT", 96.0)]
    assert _fills(got) == _fills(want)


QUOTING = """
from dita.strategy import Quote, Strategy

T0 = 1_704_067_200


class BuyOtherThenBtc(Strategy):
    \"\"\"An ETHUSDT market buy on its quote 4; a BTCUSDT market buy on the ETHUSDT quote 6, BTCUSDT
    quoted last at 3: the paper venue fills it at once, at BTCUSDT's last quote.\"\"\"

    data = ("quotes",)

    def on_quote(self, q: Quote) -> None:
        if q.asset == "ETHUSDT" and q.ts == T0 + 240:
            self.buy("ETHUSDT", 1.0, price=q.ask)
        if q.asset == "ETHUSDT" and q.ts == T0 + 360:
            self.buy("BTCUSDT", 1.0, price=103.0)
"""


def _quotes(path: Path, n: int) -> Path:
    """``n`` ETHUSDT quotes a minute apart at 50/51; BTCUSDT quoted at the first four, its ask
    100, 101, 102, 103."""
    rows = ["timestamp,asset,bid,ask,bid_size,ask_size"]
    for i in range(n):
        if i < 4:
            rows.append(f"{T0 + 60 * i},BTCUSDT,{99 + i},{100 + i},10,10")
        rows.append(f"{T0 + 60 * i},ETHUSDT,50,51,10,10")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture
def quoting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "paper_catch_up_quotes.py").write_text(QUOTING)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "paper_catch_up_quotes:BuyOtherThenBtc"


def test_the_venue_prices_with_the_quotes_of_the_skipped_rows(tmp_path: Path, quoting: str) -> None:
    """Saved at quote 1 (BTCUSDT ask 101), killed after the ETHUSDT buy of quote 4 (BTCUSDT last
    quoted at 3, ask 103). The continued run skips quotes 2 to 4; its BTCUSDT buy on quote 6 fills
    at once at BTCUSDT's last quote. A run continued from the clean stop pays 103 (and the
    slippage), and so does the killed one's, not the saved quote's 101."""
    _paper(tmp_path, quoting, _quotes(tmp_path / "a.csv", 2))
    early = (tmp_path / "state" / f"{KERNEL}.json").read_text()
    _paper(tmp_path, quoting, _quotes(tmp_path / "b.csv", 6))
    clean, killed = _twins(tmp_path, early)

    data = _quotes(tmp_path / "c.csv", 8)
    _paper(clean, quoting, data)
    res = _paper(killed, quoting, data)
    assert "the write-ahead log goes on to the kernel's last act" in res.stderr
    want, got = _state(clean), _state(killed)
    assert [(f[1], f[3]) for f in _fills(want)] == [
        ("ETHUSDT", pytest.approx(51.0102)),
        ("BTCUSDT", pytest.approx(103.0206)),
    ]
    assert _fills(got) == _fills(want)
