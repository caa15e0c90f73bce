"""``dita rebalance`` refuses an option it cannot take, or a written plan it cannot read, naming
it, with nothing sent and nothing written: no traceback."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dita.cli import app

STAMP = {"source_run": "run-c", "generated_at": "2026-11-28T09:00:00Z"}


def targets_file(tmp_path: Path) -> Path:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({**STAMP, "targets": [{"symbol": "BTC", "weight": 0.5}]}))
    return path


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--price", "BTC=inf"], "--price 'BTC=inf': not SYMBOL=PRICE with a finite price above 0"),
        (["--balance", "nan"], "--balance=nan: Input should be a finite number"),
        (["--balance", "-100"], "--balance=-100.0: Input should be greater than or equal to 0"),
        (["--quote-currency", ""], "--quote-currency='': String should have at least 1 character"),
    ],
)
def test_a_paper_option_it_cannot_take_is_refused_naming_it(
    tmp_path: Path, options: list[str], said: str
) -> None:
    state = tmp_path / "s"
    args = ["rebalance", "--targets", str(targets_file(tmp_path)), "--state-dir", str(state)]
    result = CliRunner().invoke(app, [*args, "--price", "BTC=50000", *options])
    assert result.exit_code == 2, result.output
    assert result.stderr == f"error: {said}\n"
    assert not state.exists()


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ('{"format": 7}', "ValueError: rebalance plan format 7: this version reads 2"),
        ('{"format": 2, "legs": [', "JSONDecodeError: Expecting value"),
        ("[]", "ValueError: a rebalance plan is a JSON object, not list"),
        ('{"format": 2}', "KeyError: 'source_run'"),
    ],
)
def test_a_written_plan_it_cannot_read_is_refused_naming_it(tmp_path: Path, written: str, said: str) -> None:
    path, book, state = targets_file(tmp_path), tmp_path / "book.json", tmp_path / "s"
    plan = state / "plans" / f"{hashlib.sha256(path.read_bytes()).hexdigest()[:24]}.json"
    plan.parent.mkdir(parents=True)
    plan.write_text(written)
    args = ["rebalance", "--targets", str(path), "--state-dir", str(state), "--paper-book", str(book)]
    result = CliRunner().invoke(app, [*args, "--price", "BTC=50000"])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(
        f"error: cannot plan the rebalance, nothing sent: the plan written for these targets, {plan}, "
        f"cannot be read: {said}"
    )
    assert not book.exists() and not (state / "reports").exists()


@pytest.mark.parametrize("kernel_seq", ["7", -1, 2.5, True])
def test_a_paper_book_with_a_kernel_seq_it_cannot_take_is_refused_naming_it(
    tmp_path: Path, kernel_seq: object
) -> None:
    from dita.venues.paper import PaperVenue

    book, state = tmp_path / "book.json", tmp_path / "s"
    book.write_text(json.dumps({**PaperVenue().book(), "kernel_seq": kernel_seq}))
    args = ["rebalance", "--targets", str(targets_file(tmp_path)), "--state-dir", str(state)]
    result = CliRunner().invoke(app, [*args, "--paper-book", str(book), "--price", "BTC=50000"])
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"error: --paper-book {book}: kernel_seq {kernel_seq!r} is not a seq of the kernel's log (a count)\n"
    )
    assert not state.exists()


@pytest.mark.parametrize(
    "from_elsewhere", [[], {"SOL": "5"}, {"SOL": None}, {"SOL": True}, {"SOL": float("nan")}, 5.0]
)
def test_a_paper_book_with_positions_from_elsewhere_it_cannot_take_is_refused_naming_it(
    tmp_path: Path, from_elsewhere: object
) -> None:
    from dita.venues.paper import PaperVenue

    book, state = tmp_path / "book.json", tmp_path / "s"
    book.write_text(
        json.dumps({**PaperVenue().book(), "kernel_seq": 0, "positions_from_elsewhere": from_elsewhere})
    )
    args = ["rebalance", "--targets", str(targets_file(tmp_path)), "--state-dir", str(state)]
    result = CliRunner().invoke(app, [*args, "--paper-book", str(book), "--price", "BTC=50000"])
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"error: --paper-book {book}: positions_from_elsewhere {from_elsewhere!r} is not an object of asset "
        "to a finite position\n"
    )
    assert not state.exists()


def test_a_position_given_twice_in_the_paper_book_is_refused_naming_it(tmp_path: Path) -> None:
    """json.loads kept the last: a position from elsewhere written twice was the second without a word."""
    from dita.venues.paper import PaperVenue

    book, state = tmp_path / "book.json", tmp_path / "s"
    saved = json.dumps({**PaperVenue().book(), "kernel_seq": 0})[:-1]
    written = saved + ', "positions_from_elsewhere": {"BTC": 1, "BTC": 2}}'
    book.write_text(written)
    args = ["rebalance", "--targets", str(targets_file(tmp_path)), "--state-dir", str(state)]
    result = CliRunner().invoke(app, [*args, "--paper-book", str(book), "--price", "BTC=50000"])
    assert result.exit_code == 2, result.output
    assert result.stderr == f"error: --paper-book {book}: 'BTC' is given more than once (1, then 2)\n"
    assert book.read_text() == written and not state.exists()


def test_an_exchange_without_live_sandbox_or_dry_run_is_refused_before_it_is_reached(tmp_path: Path) -> None:
    """Real orders, sent with the API keys the environment holds, are asked for on the command
    line (as `dita live` asks of a config's mode live): nothing is reached, nothing written."""
    state = tmp_path / "s"
    args = ["rebalance", "--targets", str(targets_file(tmp_path)), "--state-dir", str(state)]
    # Port 9 (discard): reached, the run would fail on the network, not on the option.
    exchange = ["--ccxt-exchange", "binance", "--ccxt-base-url", "http://127.0.0.1:9"]
    result = CliRunner().invoke(app, [*args, *exchange, "--fill-wait", "0"])
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        "error: --ccxt-exchange binance sends real orders: give --live to send them "
        "(or --ccxt-sandbox for the exchange's testnet, --dry-run for the plan only)\n"
    )
    assert not state.exists()


@pytest.mark.parametrize(
    ("given", "named"),
    [
        (["--balance", "5000"], "--balance"),
        (["--leverage", "3"], "--leverage"),
        (["--price", "BTC=50000", "--leverage", "1"], "--price, --leverage"),
        (["--market-limits", "limits.json"], "--market-limits"),
    ],
)
def test_paper_options_with_an_exchange_are_refused_naming_each(
    tmp_path: Path, given: list[str], named: str
) -> None:
    """The exchange trades on its own cash, leverage and prices: a paper option given with it
    would be ignored without a word, so it is refused before anything is reached or written."""
    state = tmp_path / "s"
    args = ["rebalance", "--targets", str(targets_file(tmp_path)), "--state-dir", str(state)]
    exchange = ["--ccxt-exchange", "binance", "--ccxt-base-url", "http://127.0.0.1:9", "--live"]
    result = CliRunner().invoke(app, [*args, *exchange, *given, "--fill-wait", "0"])
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"error: --ccxt-exchange binance: {named} only set the paper venue's account and prices; "
        "the exchange trades on its own: leave them out\n"
    )
    assert not state.exists()


@pytest.mark.parametrize("under", [False, True])
def test_a_state_dir_that_is_a_file_is_refused_naming_the_option(tmp_path: Path, under: bool) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("keep me")
    state = a_file / "s" if under else a_file
    args = ["rebalance", "--targets", str(targets_file(tmp_path)), "--state-dir", str(state)]
    result = CliRunner().invoke(app, [*args, "--price", "BTC=50000", "--fill-wait", "0"])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: --state-dir {state}")
    assert f"{a_file} is a file" in result.stderr
    assert a_file.read_text() == "keep me"


def test_a_state_dir_variable_that_is_a_file_is_refused_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("keep me")
    monkeypatch.setenv("DITA_STATE_DIR", str(a_file))
    args = ["rebalance", "--targets", str(targets_file(tmp_path)), "--price", "BTC=50000", "--fill-wait", "0"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    state = a_file / "rebalance"
    assert (
        result.stderr
        == f"error: $DITA_STATE_DIR {state}: {a_file} is a file, not a directory; give a directory\n"
    )
    assert a_file.read_text() == "keep me"


@pytest.mark.parametrize(
    ("kernel_id", "flaw"),
    [
        ("", "it is empty"),
        ("*", "it is the control plane's entry for every kernel"),
        ("a b", "it holds white space"),
        ("a\x00b", "it holds a NUL"),
    ],
)
def test_a_kernel_id_no_kernel_can_have_is_refused_before_the_state_dir_is_made(
    tmp_path: Path, kernel_id: str, flaw: str
) -> None:
    state = tmp_path / "s"
    args = ["rebalance", "--targets", str(targets_file(tmp_path)), "--state-dir", str(state)]
    result = CliRunner().invoke(
        app, [*args, "--kernel-id", kernel_id, "--price", "BTC=50000", "--fill-wait", "0"]
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: --kernel-id {kernel_id!r}: {flaw}")
    assert not state.exists()


@pytest.mark.parametrize("option", ["--market-limits", "--paper-book"])
def test_a_json_file_nested_too_deeply_is_refused_naming_the_option(tmp_path: Path, option: str) -> None:
    """Deeper than json's recursion can follow: a RecursionError, which ended the run in a traceback."""
    path, state = tmp_path / "deep.json", tmp_path / "s"
    path.write_text("[" * 100_000)
    args = ["rebalance", "--targets", str(targets_file(tmp_path)), "--state-dir", str(state)]
    result = CliRunner().invoke(app, [*args, "--price", "BTC=50000", option, str(path)])
    assert result.exit_code == 2, result.output
    assert result.stderr == f"error: {option} {path}: nested too deeply\n"
    assert not state.exists()


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--watch", "--watch-every", "inf"], "--watch-every=inf must be positive and finite"),
        (["--fill-wait", "inf"], "--fill-wait=inf must be zero or more and finite"),
    ],
)
def test_a_wait_that_never_ends_is_refused_before_the_targets_are_read(
    tmp_path: Path, options: list[str], said: str
) -> None:
    """time.sleep(inf) raised OverflowError after the first rebalance, its orders sent."""
    state, book = tmp_path / "s", tmp_path / "book.json"
    args = ["rebalance", "--targets", str(tmp_path / "none.json"), "--state-dir", str(state)]
    result = CliRunner().invoke(app, [*args, "--paper-book", str(book), "--price", "BTC=50000", *options])
    assert result.exit_code == 2, result.output
    assert result.stderr == f"error: {said}\n"
    assert not state.exists() and not book.exists()


@pytest.mark.parametrize(
    ("prices", "said"),
    [
        (["BTC=100", "BTC=200"], "--price BTC is given more than once ('100', then '200')"),
        (["BTC=1_00"], "--price 'BTC=1_00': not SYMBOL=PRICE with the price in ASCII digits"),
        (
            ["BTC=\uff11\uff10\uff10"],
            "--price 'BTC=\uff11\uff10\uff10': not SYMBOL=PRICE with the price in ASCII digits",
        ),
    ],
)
def test_a_price_given_twice_or_not_in_ascii_digits_is_refused_naming_it(
    tmp_path: Path, prices: list[str], said: str
) -> None:
    """The last --price of a symbol won without a word (BUY 25 planned at 200, not 50 at 100), and
    float() read "1_00" as 100."""
    state = tmp_path / "s"
    args = ["rebalance", "--targets", str(targets_file(tmp_path)), "--state-dir", str(state), "--dry-run"]
    result = CliRunner().invoke(app, [*args, *(a for p in prices for a in ("--price", p))])
    assert result.exit_code == 2, result.output
    assert result.stderr == f"error: {said}\n"
    assert "planned" not in result.stdout and not state.exists()


def test_a_limit_given_twice_in_market_limits_is_refused_naming_it(tmp_path: Path) -> None:
    """json.loads kept the last: a lot step written twice was the second without a word."""
    limits, state = tmp_path / "limits.json", tmp_path / "s"
    limits.write_text('{"BTC": {"lot_step": 0.1, "lot_step": 1}}')
    args = ["rebalance", "--targets", str(targets_file(tmp_path)), "--state-dir", str(state), "--dry-run"]
    result = CliRunner().invoke(app, [*args, "--price", "BTC=50000", "--market-limits", str(limits)])
    assert result.exit_code == 2, result.output
    assert (
        result.stderr
        == f"error: --market-limits {limits}: 'lot_step' is given more than once (0.1, then 1)\n"
    )
    assert "planned" not in result.stdout and not state.exists()


@pytest.mark.parametrize(
    ("eth", "said"),
    [
        ({"lot_step": -0.1}, "ETH lot_step -0.1: Input should be greater than or equal to 0"),
        ({"lot_step": 1e-20}, "ETH lot_step 1e-20: 1e-20 must be 0 (no rounding) or at least 1e-15"),
        ({"lot_stp": 0.1}, "ETH lot_stp 0.1: Extra inputs are not permitted"),
        (5, "ETH 5: Input should be a valid dictionary or instance of MarketLimits"),
    ],
)
def test_a_bad_market_limit_is_refused_naming_its_symbol(tmp_path: Path, eth: object, said: str) -> None:
    """Of several markets' limits, the error names the one whose field and value are wrong."""
    limits, state = tmp_path / "limits.json", tmp_path / "s"
    limits.write_text(json.dumps({"BTC": {"lot_step": 0.001}, "ETH": eth, "SOL": {"lot_step": 0.1}}))
    args = ["rebalance", "--targets", str(targets_file(tmp_path)), "--state-dir", str(state), "--dry-run"]
    result = CliRunner().invoke(app, [*args, "--price", "BTC=50000", "--market-limits", str(limits)])
    assert result.exit_code == 2, result.output
    assert result.stderr == f"error: --market-limits {limits}: {said}\n"
    assert "planned" not in result.stdout and not state.exists()


def test_a_weight_not_in_ascii_digits_plans_nothing(tmp_path: Path) -> None:
    """float() read "1_0" as 10: ten times equity, planned with a warning only."""
    path, state = tmp_path / "t.csv", tmp_path / "s"
    path.write_text("symbol,weight,source_run,generated_at\nBTC,1_0,run-c,2026-11-28T09:00:00Z\n")
    args = ["rebalance", "--targets", str(path), "--state-dir", str(state), "--dry-run"]
    result = CliRunner().invoke(app, [*args, "--price", "BTC=50000"])
    assert result.exit_code == 2, result.output
    assert "row 1: weight '1_0' is not a number in ASCII digits" in result.stderr
    assert "planned" not in result.stdout and not state.exists()
