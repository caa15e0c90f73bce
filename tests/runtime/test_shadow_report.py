"""The shadow run's report against what the kernel's guard decided."""

from __future__ import annotations

import json
import tracemalloc
from typing import Any

import pytest
from typer.testing import CliRunner

import dita.runtime.owners
import dita.shadow
from dita.cli import app
from dita.shadow import ShadowSettings, run_shadow

from .own_process import in_own_process


def test_limits_below_one_quote_show_as_risk_blocks_not_as_silence() -> None:
    # A cap smaller than one quote: the kernel refuses every bid and ask, and the report says
    # so, rather than read 0 orders and 0 blocks, as if nothing had tried (as it would were
    # the quoter's own inventory band to stop it quoting at all under 500 USD).
    settings = ShadowSettings(symbols=["BTCUSDT"], iterations=5, max_inv=400, max_total=400, edge_threshold=0)
    report = run_shadow(settings)
    assert report["orders"]["placed"] == 0
    assert report["orders"]["risk_blocks"] == report["risk"]["blocks_total"] == 2 * 5
    assert report["positions"]["by_symbol"] == {"BTCUSDT": 0.0}


@pytest.mark.parametrize(
    ("symbols", "quote_usd", "refused"),
    [(["BTCUSDT"], 1e-5, "BTCUSDT"), (["XRPUSDT", "BTCUSDT"], 1e-6, "BTCUSDT")],
)
def test_a_quote_too_small_for_any_order_is_refused_naming_quote_usd(
    symbols: list[str], quote_usd: float, refused: str
) -> None:
    # Each quote (quote_usd / mid, 2.4e-10 of BTC here) was refused by the kernel as at or
    # below its smallest size, and the report read 0 orders placed, 0 blocks: no reason.
    settings = ShadowSettings(symbols=symbols, iterations=5, quote_usd=quote_usd, edge_threshold=0)
    with pytest.raises(ValueError) as refusal:
        run_shadow(settings)
    assert str(refusal.value).startswith(f"quote_usd={quote_usd!r} is too small to quote {refused}: ")
    assert "smallest size the kernel trades (1e-09)" in str(refusal.value)
    # Just above the bound it names, orders are placed.
    bound = float(str(refusal.value).rsplit("above ", 1)[1])
    enough = settings.model_copy(update={"quote_usd": bound * 1.001})
    assert run_shadow(enough)["orders"]["placed"] > 0


def test_the_report_lists_the_most_recent_freezes_and_counts_them_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The list held every freeze: about one a third of the rounds, so a run of a million
    # rounds built a report of hundreds of thousands of them in memory.
    settings = ShadowSettings(symbols=["BTCUSDT", "ETHUSDT"], iterations=50)
    every = run_shadow(settings)["risk"]
    assert every["freezes_total"] == len(every["freeze_events"]) > 5
    monkeypatch.setattr(dita.shadow, "FREEZE_EVENTS_KEPT", 5, raising=False)
    kept = run_shadow(settings)["risk"]
    assert kept["freeze_events"] == every["freeze_events"][-5:]
    assert kept["freezes_total"] == every["freezes_total"]
    assert kept["last_freeze_reason"] == kept["freeze_events"][-1]["reason"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-inv", "60000"], "error: --max-inv=60000.0 exceeds --max-total=50000.0\n"),
        (
            ["--fill-rate", "0.7", "--reject-rate", "0.5"],
            "error: --fill-rate=0.7 + --reject-rate=0.5 exceeds 1\n",
        ),
    ],
)
def test_settings_that_disagree_are_refused_without_a_dump_of_every_option(
    args: list[str], message: str
) -> None:
    # A refusal of two options together has no one option to name, yet it does not read
    # "settings={'symbols': [...], 'iterations': 50, ...}: Value error, ...", an option that
    # does not exist followed by every value given: the fields it compares are named as the
    # options they came from.
    result = CliRunner().invoke(app, ["shadow", "--symbols", "BTCUSDT", *args])
    assert result.exit_code == 2
    assert result.stderr == message


def test_the_shadow_help_says_symbols_are_required() -> None:
    result = CliRunner().invoke(app, ["shadow", "--help"])
    symbols = result.output.split("--symbols", 1)[1].split("--iterations", 1)[0]
    assert "(required)" in symbols


def test_a_field_refusal_reads_as_the_validators_words_without_pydantics_prefix() -> None:
    # It read "--symbols=['b']: Value error, symbol 'B' is not a ticker like BTCUSDT".
    result = CliRunner().invoke(app, ["shadow", "--symbols", "b"])
    assert result.exit_code == 2
    assert result.stderr == "error: --symbols=['b']: symbol 'B' is not a ticker like BTCUSDT\n"


def test_fail_options_drops_pydantics_prefixes_and_spells_fields_as_given_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import typer
    from pydantic import BaseModel, ValidationError, field_validator, model_validator

    from dita.cli._common import fail_options

    class Feed(BaseModel):
        poll_s: float
        base_url: str

        @field_validator("poll_s")
        @classmethod
        def _often(cls, value: float) -> float:
            # As an assert in the validator would (one here pytest rewrites to say more).
            if value >= 60:
                raise AssertionError("a feed polled once a minute misses the market")
            return value

        @model_validator(mode="after")
        def _local(self) -> Feed:
            if self.base_url == "ftp://x":
                raise ValueError(f"poll_s={self.poll_s} over base_url={self.base_url!r}: no ftp feed")
            return self

    def refusal(settings: dict[str, object], options: dict[str, str] | None = None) -> str:
        with pytest.raises(ValidationError) as refused:
            Feed.model_validate(settings)
        with pytest.raises(typer.Exit) as stop:
            fail_options(refused.value, options)
        assert stop.value.exit_code == 2
        return capsys.readouterr().err

    slow = {"poll_s": 90, "base_url": "http://x"}
    assert refusal(slow) == "error: --poll-s=90: a feed polled once a minute misses the market\n"
    assert refusal(slow, {"poll_s": "--poll"}) == (
        "error: --poll=90: a feed polled once a minute misses the market\n"
    )
    ftp = {"poll_s": 1.0, "base_url": "ftp://x"}
    assert refusal(ftp, {"base_url": "--ccxt-base-url"}) == (
        "error: --poll-s=1.0 over --ccxt-base-url='ftp://x': no ftp feed\n"
    )


def _run_peak(settings: ShadowSettings) -> int:
    """The most memory ``run_shadow`` held at once, in bytes (Python allocations)."""
    tracemalloc.start()
    try:
        run_shadow(settings)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _growth_over_500_rounds() -> tuple[int, int]:
    """The fills of the longer run, and how much more memory it held at its peak than the shorter."""
    # Past these the run's memories are full; kept small, the test runs few rounds.
    dita.shadow.FILLS_KEPT = 20
    dita.shadow.FREEZE_EVENTS_KEPT = 20
    dita.runtime.owners.RELEASED_MEMORY = 20
    short = ShadowSettings(symbols=["BTCUSDT", "ETHUSDT"], iterations=300)
    long = short.model_copy(update={"iterations": 800})
    # Untraced, this first run of the process also takes what later runs share (imports, caches).
    filled = run_shadow(long)["orders"]["filled"]
    return filled, _run_peak(long) - _run_peak(short)


def test_a_longer_run_holds_no_more_memory() -> None:
    """The feed is read a quote at a time and the quoter keeps a bounded number of fills (some
    two and a half a round per symbol): made in full, or with every fill kept, a run of a
    million rounds on a few symbols would hold gigabytes. Its fills are counted in the report."""
    filled, grew = in_own_process("runtime.test_shadow_report", "_growth_over_500_rounds")
    assert filled > 1_200
    # Unbounded, it would hold some 200 bytes a quote (1,000 more) and 120 a fill (1,250 more): 350 kB.
    assert grew < 100_000, f"{grew:,} bytes more for 500 more rounds"


def test_the_quoter_keeps_its_latest_fills(monkeypatch: pytest.MonkeyPatch) -> None:
    quoters: list[Any] = []
    monkeypatch.setattr(dita.shadow, "FILLS_KEPT", 5, raising=False)
    started = dita.shadow._ShadowQuoter.on_start

    def on_start(self: Any) -> None:
        quoters.append(self)
        started(self)

    monkeypatch.setattr(dita.shadow._ShadowQuoter, "on_start", on_start)
    report = run_shadow(ShadowSettings(symbols=["BTCUSDT"], iterations=30))
    (quoter,) = quoters
    assert report["orders"]["filled"] > 10
    assert 5 <= len(quoter.fills) < 10
    assert quoter.fills[-1].ts == max(f.ts for f in quoter.fills)


def test_orders_refused_for_want_of_a_free_slot_count_as_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under caps far above what it holds, the quoter's open trades take every slot (64 a
    symbol), and the kernel refuses its next quotes (INVALID_SLOT_ID): the report counted them
    nowhere, as if every quote the quoter made had gone out."""
    refused: list[str] = []
    tallied = dita.shadow._Tally.on_intent

    def on_intent(self: Any, intent: Any, outcome: Any) -> None:
        if not outcome.accepted and intent.action.name in ("ENTER", "EXIT"):
            refused.append(outcome.diagnostic_code.name)
        tallied(self, intent, outcome)

    monkeypatch.setattr(dita.shadow._Tally, "on_intent", on_intent)
    settings = ShadowSettings(
        symbols=["BTCUSDT"], iterations=600, max_inv=1e12, max_total=1e12, edge_threshold=-100
    )
    report = run_shadow(settings)
    assert "INVALID_SLOT_ID" in refused
    assert report["risk"]["blocks_total"] == len(refused)
    assert report["orders"]["risk_blocks"] == 0


def _shadow(*args: str) -> Any:
    return CliRunner().invoke(app, ["shadow", "--symbols", "BTCUSDT,ETHUSDT", "--no-progress", *args])


def test_the_kernels_other_refusals_warn_and_its_edge_freezes_are_said_apart() -> None:
    """A shadow run said nothing of the intents the kernel refused, as backtest and paper did
    before they counted them. Its edge freezes are what the run is for: counted apart and said
    as a plain line; the kernel's other refusals (here the per-symbol cap) warn, as backtest and
    paper warn of them. The report carries both."""
    result = _shadow("--iterations", "10", "--max-inv", "1500", "--max-total", "3000")
    assert result.exit_code == 0, result.output
    risk = json.loads(result.stdout)["risk"]
    refused, frozen = risk["refused"], risk["edge_frozen"]
    assert frozen > 0 and refused["refused"] > 0
    # Every refusal of this run is of an order: the report's count of all of them is the two.
    assert frozen + refused["refused"] == risk["blocks_total"]
    assert refused["intents"] >= risk["blocks_total"] + 2  # and the two orders placed
    assert refused["reasons"] == f"{refused['refused']} x RISK_REJECTED: max_notional_per_asset"
    assert result.stderr.splitlines() == [
        f"shadow: edge froze {frozen:,} intents (an edge below --edge-threshold 1.5 bps)",
        f"warning: the kernel refused {refused['refused']:,} of {refused['intents']:,} intents: "
        f"{refused['reasons']}",
    ]


def test_a_run_whose_only_refusals_are_edge_freezes_warns_of_none() -> None:
    result = _shadow("--iterations", "50")
    assert result.exit_code == 0, result.output
    risk = json.loads(result.stdout)["risk"]
    assert risk["refused"] is None
    assert risk["edge_frozen"] == risk["blocks_total"] > 0
    said = f"shadow: edge froze {risk['edge_frozen']:,} intents (an edge below --edge-threshold 1.5 bps)\n"
    assert result.stderr == said


def test_a_run_without_refusals_says_nothing_of_them() -> None:
    report = run_shadow(ShadowSettings(symbols=["BTCUSDT"], iterations=3))
    assert report["risk"]["edge_frozen"] == 0 and report["risk"]["refused"] is None


def test_a_bad_freeze_time_is_refused_before_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused after the run, its report would be lost with the time it took."""
    monkeypatch.setenv("DITA_FREEZE_UTC", "2026-01-01 00:00")
    rounds: list[int] = []
    with pytest.raises(ValueError, match="DITA_FREEZE_UTC='2026-01-01 00:00' is no UTC time"):
        run_shadow(ShadowSettings(iterations=200, symbols=["BTCUSDT"]), progress=rounds.append)
    assert rounds == []
