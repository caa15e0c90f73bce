"""`dita paper` counts the orders the paper venue rejected (one for an asset its feed does not
have), as `dita backtest` does: the kernel takes such an intent and the venue refuses its order
at once, so the strategy's outcome reads accepted and the run said nothing of it. And both
commands warn of a strategy's declared assets the data lacks when it has only some of them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dita.cli import app

from .paper_cli import (
    BUYS_TOO_MUCH_ONCE,
    TOO_MUCH_REFUSED,
    flat_bars,
    run_paper,
    saved_state,
    strategies_module,
)

runner = CliRunner()

STRATEGIES = (
    """
from typing import Any

from pydantic import BaseModel

from dita.strategy import Bar, Strategy


class BuysEthOnce(Strategy[Any]):
    \"\"\"Buys one ETHUSDT on the first bar of each run.\"\"\"

    data = ("bars",)

    def on_bar(self, bar: Bar) -> None:
        if not hasattr(self, "sent"):
            self.sent = self.buy("ETHUSDT", 1.0, price=bar.close)


class FarBid(Strategy[Any]):
    \"\"\"A resting limit far below the market: it keeps working to the end of the run.\"\"\"

    data = ("bars",)

    def on_bar(self, bar: Bar) -> None:
        if not self.busy(bar.asset) and not hasattr(self, "sent"):
            self.sent = self.buy(bar.asset, 1.0, price=bar.close, limit=50.0)


class Declares(Strategy[Any]):
    \"\"\"Declares three assets, of which the sample holds BTCUSDT only.\"\"\"

    data = ("bars",)
    assets = ("BTCUSDT", "ETHUSDT", "SOLUSDT")

    def on_bar(self, bar: Bar) -> None:
        pass


class DeclaresBtc(Declares):
    assets = ("BTCUSDT",)
"""
    + BUYS_TOO_MUCH_ONCE
)

REASON = "unknown asset 'ETHUSDT': paper lists BTCUSDT only"


@pytest.fixture
def strategies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    return strategies_module(tmp_path, monkeypatch, "paper_rejection_strategies", STRATEGIES)


def test_paper_counts_and_says_the_orders_the_venue_rejected(
    tmp_path: Path, strategies: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dita.cli.paper_run as paper_run

    # A status line at every tick, as a service's log has one a minute; each tick saves and draws
    # the status, so a few bars do (the sample's 4,320 took half a minute).
    monkeypatch.setattr(paper_run, "STATUS_LINE_SECONDS", 0.0)
    bars = flat_bars(tmp_path / "bars.csv", 20)
    result = run_paper(tmp_path, f"{strategies}:BuysEthOnce", bars, "--status-every", "0.000001")
    assert result.exit_code == 0, result.output
    assert f"warning: the venue rejected 1 order: 1 x {REASON}" in result.stderr
    assert re.search(rf"rejected orders\s+│ 1: 1 x {re.escape(REASON)}", result.stdout), result.stdout
    lines = [line for line in result.stdout.splitlines() if line.startswith("status: ")]
    assert lines and "working orders, 1 order rejected by the venue, mode PAPER" in lines[-1]
    snap = saved_state(tmp_path)
    assert snap["orders_rejected"] == 1 and snap["rejection_reasons"] == {REASON: 1}
    assert snap["slots"] == [] and snap["fills"] == []
    # `dita status` still reads the file.
    status = runner.invoke(app, ["status", "--state-dir", str(tmp_path / "state"), "--json"])
    assert status.exit_code == 0 and [r["kernel_id"] for r in json.loads(status.stdout)] == ["k"]


def test_status_shows_the_rejections_the_state_file_counts(tmp_path: Path, strategies: str) -> None:
    """`dita status` shows `orders_rejected` and `rejection_reasons` as it shows the other fields:
    a column of the table, the reasons under it, and both in --json. A state file written before
    they were counted counts none."""
    assert run_paper(tmp_path, f"{strategies}:BuysEthOnce", "sample").exit_code == 0
    old = {
        k: v for k, v in saved_state(tmp_path).items() if k not in ("orders_rejected", "rejection_reasons")
    }
    (tmp_path / "state" / "old.json").write_text(json.dumps({**old, "kernel_id": "old"}))
    state = ["--state-dir", str(tmp_path / "state")]
    result = runner.invoke(app, ["status", *state, "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["kernel_id"]: r for r in json.loads(result.stdout)}
    assert rows["k"]["orders_rejected"] == 1 and rows["k"]["rejection_reasons"] == {REASON: 1}
    assert rows["old"]["orders_rejected"] == 0 and rows["old"]["rejection_reasons"] == {}
    table = runner.invoke(app, ["status", *state])
    assert table.exit_code == 0, table.output
    assert re.search(r"┃ rejected ┃", table.stdout), table.stdout
    assert re.search(r"│ k +│.*│ +1 │ +0 │ BuysEthOnce=STOPPED", table.stdout), table.stdout
    assert re.search(r"│ old +│.*│ +0 │ +0 │ BuysEthOnce=STOPPED", table.stdout), table.stdout
    assert f"k: the venue rejected 1 order: 1 x {REASON}" in table.stdout
    assert "old: the venue rejected" not in table.stdout


def test_status_shows_the_refusals_the_state_file_counts(tmp_path: Path, strategies: str) -> None:
    """`dita status` shows the intents the kernel refused (`intents_refused`, `refusal_reasons`)
    as it shows the orders the venue rejected: a column, the reasons under the table, and both
    in --json. A state file written before they were counted reads as none refused."""
    bars = flat_bars(tmp_path / "bars.csv", 3)
    assert run_paper(tmp_path, f"{strategies}:BuysTooMuchOnce", bars).exit_code == 0
    old = {k: v for k, v in saved_state(tmp_path).items() if k not in ("intents_refused", "refusal_reasons")}
    (tmp_path / "state" / "old.json").write_text(json.dumps({**old, "kernel_id": "old"}))
    state = ["--state-dir", str(tmp_path / "state")]
    result = runner.invoke(app, ["status", *state, "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["kernel_id"]: r for r in json.loads(result.stdout)}
    assert rows["k"]["intents_refused"] == 1 and rows["k"]["refusal_reasons"] == {TOO_MUCH_REFUSED: 1}
    assert rows["old"]["intents_refused"] == 0 and rows["old"]["refusal_reasons"] == {}
    table = runner.invoke(app, ["status", *state])
    assert table.exit_code == 0, table.output
    assert re.search(r"┃ rejected ┃ refused ┃", table.stdout), table.stdout
    assert re.search(r"│ k +│.*│ +0 │ +1 │ BuysTooMuchOnce=STOPPED", table.stdout), table.stdout
    assert re.search(r"│ old +│.*│ +0 │ +0 │ BuysTooMuchOnce=STOPPED", table.stdout), table.stdout
    # In the words `dita paper` warns with at the end of its run (the file keeps no count of the
    # intents sent, so no "of M").
    assert f"k: the kernel refused 1 intent: 1 x {TOO_MUCH_REFUSED}" in table.stdout
    assert "old: the kernel refused" not in table.stdout
    assert "the venue rejected" not in table.stdout


def test_a_paper_run_without_rejections_says_none(tmp_path: Path, strategies: str) -> None:
    result = run_paper(tmp_path, f"{strategies}:FarBid", "sample")
    assert result.exit_code == 0, result.output
    assert "rejected" not in result.stderr
    assert re.search(r"rejected orders\s+│ 0 ", result.stdout), result.stdout
    snap = saved_state(tmp_path)
    assert snap["orders_rejected"] == 0 and snap["rejection_reasons"] == {}


def test_a_continued_run_counts_its_own_and_the_state_file_the_kernels(
    tmp_path: Path, strategies: str
) -> None:
    """The state file counts the rejections of every run continuing the kernel, as it lists
    their fills; a run says its own."""
    wal = ["--wal-dir", str(tmp_path / "wal")]
    first = run_paper(tmp_path, f"{strategies}:BuysEthOnce", flat_bars(tmp_path / "a.csv", 3), *wal)
    assert first.exit_code == 0, first.output
    assert saved_state(tmp_path)["orders_rejected"] == 1
    second = run_paper(tmp_path, f"{strategies}:BuysEthOnce", flat_bars(tmp_path / "b.csv", 6), *wal)
    assert second.exit_code == 0, second.output
    assert "continues kernel k" in second.stdout
    assert f"warning: the venue rejected 1 order: 1 x {REASON}" in second.stderr
    snap = saved_state(tmp_path)
    assert snap["orders_rejected"] == 2 and snap["rejection_reasons"] == {REASON: 2}
    # A run that does not continue the kernel (on a new log) starts the count afresh. Without
    # --wal-dir it is refused: it would replace the state file of the account on the log.
    new_log = ("--wal-dir", str(tmp_path / "wal-new"))
    fresh = run_paper(tmp_path, f"{strategies}:BuysEthOnce", flat_bars(tmp_path / "c.csv", 3), *new_log)
    assert fresh.exit_code == 0, fresh.output
    assert saved_state(tmp_path)["orders_rejected"] == 1


def test_an_order_reconciliation_ends_is_no_venue_rejection(tmp_path: Path, strategies: str) -> None:
    """A continued run whose state file has no book ends the kernel's working order with a
    REJECT of reconciliation's, said as such: the venue refused no order."""
    wal = ["--wal-dir", str(tmp_path / "wal")]
    data = flat_bars(tmp_path / "a.csv", 3)
    first = run_paper(tmp_path, f"{strategies}:FarBid", data, *wal)
    assert first.exit_code == 0, first.output
    snap = saved_state(tmp_path)
    del snap["venue"]
    (tmp_path / "state" / "k.json").write_text(json.dumps(snap))
    second = run_paper(tmp_path, f"{strategies}:FarBid", data, *wal)
    assert second.exit_code == 0, second.output
    assert "reconcile: ended 1 order the venue does not hold" in second.stderr
    assert "the venue rejected" not in second.stderr
    assert saved_state(tmp_path)["orders_rejected"] == 0


@pytest.mark.parametrize("field", ["orders_rejected", "intents_refused"])
@pytest.mark.parametrize("value", ['"3"', "-1", "true"])
def test_a_state_file_with_a_count_of_another_type_is_refused(
    tmp_path: Path, strategies: str, value: str, field: str
) -> None:
    wal = ["--wal-dir", str(tmp_path / "wal")]
    data = flat_bars(tmp_path / "a.csv", 3)
    assert run_paper(tmp_path, f"{strategies}:FarBid", data, *wal).exit_code == 0
    path = tmp_path / "state" / "k.json"
    text = path.read_text()
    assert f'"{field}": 0' in text
    path.write_text(text.replace(f'"{field}": 0', f'"{field}": {value}'))
    again = run_paper(tmp_path, f"{strategies}:FarBid", data, *wal)
    assert again.exit_code == 2, again.output
    assert field in again.stderr


def test_the_rejections_of_two_runs_add_up() -> None:
    from dita.runtime import VenueRejections

    first = VenueRejections(3, {"a": 2, "b": 1})
    later = VenueRejections(10, {"c": 4, "a": 1, "d": 1, "e": 1, "f": 1})
    both = first.plus(later)
    assert both.orders == 13
    # Five reasons at most, those met first; the rest counted apart.
    assert both.reasons == {"a": 3, "b": 1, "c": 4, "d": 1, "e": 1}
    assert both.text() == "4 x c; 3 x a; 1 x b; 1 x d; 1 x e; 3 for other reasons"
    assert VenueRejections(2).text() == "2 for other reasons"
    assert VenueRejections().plus(VenueRejections()).text() == ""


def test_rejections_that_differ_only_in_their_figures_count_as_one_reason() -> None:
    """Each margin refusal names its own order's figures: counted by their text, no two were
    alike, and a year's run said five reasons at 1 x each and thousands "for other reasons".
    A figure inside a name (1000PEPEUSDT) is part of the name, not a figure."""
    from dita import VenueEvent
    from dita.runtime import VenueRejections

    def reject(i: int, reason: str) -> VenueEvent:
        return VenueEvent(f"r{i}", "t", 0, "REJECT", reason=reason)

    rejections = VenueRejections()
    margins = [
        f"insufficient margin: the order needs {n:,.2f} USDT, has {n / 3:,.2f} USDT" for n in (1020, 7.5, 1e6)
    ]
    names = ["unknown asset '1000PEPEUSDT'", "unknown asset '1000SHIBUSDT'"]
    for i, reason in enumerate([*margins, *names, margins[0], "rate 1e-05 too low", "rate 2e-05 too low"]):
        rejections.on_event(reject(i, reason))
    assert rejections.orders == 8
    assert rejections.reasons == {margins[0]: 4, names[0]: 1, names[1]: 1, "rate 1e-05 too low": 2}
    assert rejections.text() == (
        f"4 x {margins[0]} (the first's figures); 2 x rate 1e-05 too low (the first's figures); "
        f"1 x {names[0]}; 1 x {names[1]}"
    )
    later = VenueRejections(1, {margins[2]: 1})
    assert rejections.plus(later).reasons[margins[0]] == 5


def test_declared_assets_the_data_lacks_are_named(tmp_path: Path, strategies: str) -> None:
    """A strategy declaring BTCUSDT, ETHUSDT and SOLUSDT ran on the sample (BTCUSDT only)
    without a word: it heard nothing of the other two."""
    said = (
        "warning: Declares trades BTCUSDT, ETHUSDT, SOLUSDT, but --data holds no ETHUSDT or SOLUSDT "
        "(BTCUSDT only): it hears nothing of them and the venue rejects its orders for them"
    )
    out = str(tmp_path / "bt")
    args = ["backtest", "--data", "sample", "--no-progress", "--out", out]
    backtest = runner.invoke(app, [*args, "--strategy", f"{strategies}:Declares", "--json"])
    assert backtest.exit_code == 0, backtest.output
    assert said in backtest.stderr
    json.loads(backtest.stdout)  # stdout is still the JSON alone
    paper = run_paper(tmp_path, f"{strategies}:Declares", "sample")
    assert paper.exit_code == 0, paper.output
    assert said in paper.stderr
    # Every declared asset in the data: nothing to say.
    whole = runner.invoke(app, [*args, "--strategy", f"{strategies}:DeclaresBtc"])
    assert whole.exit_code == 0 and "warning" not in whole.stderr, whole.output
    whole = run_paper(tmp_path, f"{strategies}:DeclaresBtc", "sample")
    assert whole.exit_code == 0 and "warning" not in whole.stderr, whole.output


class TwoAssets:
    assets = ("BTCUSDT", "ETHUSDT")


def test_feed_gaps_names_what_a_live_feed_lacks() -> None:
    from dita.cli._common import feed_gaps

    assert feed_gaps(TwoAssets(), ["BTCUSDT"], source="--ccxt-exchange") == (
        "TwoAssets trades BTCUSDT, ETHUSDT, but --ccxt-exchange gives no ETHUSDT (BTCUSDT only): "
        "it hears nothing of it and the venue rejects its orders for it"
    )
    assert feed_gaps(TwoAssets(), ["ETHUSDT", "BTCUSDT"]) is None
    assert feed_gaps(TwoAssets(), ["SOLUSDT"]) is None  # none of them: feed_problem refuses it
