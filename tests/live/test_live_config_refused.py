"""A file that is no run's configuration is refused before anything starts: exit 2, one line
per problem naming its key path and the value given; a live run also needs --live."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from binance_streams import BinanceStreamServer
from typer.testing import CliRunner

from dita.cli import app

RUN = """
kernel_id = "refused"
{top}
[venue]
exchange = "binance"
symbols = ["BTC/USDT"]
api_key_env = "DITA_TEST_LIVE_KEY"
secret_env = "DITA_TEST_LIVE_SECRET"
{venue}
[[strategies]]
strategy = "dita.examples.crossover:SmaCrossover"
{strategy}
"""


def run_file(tmp_path: Path, top: str = "", venue: str = "", strategy: str = "") -> Path:
    text = RUN.format(top=top, venue=venue, strategy=strategy)
    if "[gateway]" not in text:
        # Any free port: a refusal made by the build comes after the gateway's port is taken, and
        # a run beside this one (another test's) may hold the default.
        text += "[gateway]\nport = 0\n"
    path = tmp_path / "run.toml"
    path.write_text(text)
    return path


def refused(tmp_path: Path, *args: str, top: str = "", venue: str = "", strategy: str = "") -> str:
    path = run_file(tmp_path, top=top, venue=venue, strategy=strategy)
    result = CliRunner().invoke(app, ["live", "--config", str(path), *args])
    assert result.exit_code == 2, result.output
    return str(result.stderr)


def test_an_unknown_key_is_named_with_its_value(tmp_path: Path) -> None:
    err = refused(tmp_path, venue="market_typ = 'linear'")
    assert "venue.market_typ: unknown key (given 'linear')" in err


def test_a_value_of_the_wrong_type_is_named_with_its_value(tmp_path: Path) -> None:
    err = refused(tmp_path, strategy="max_slots = 'two'")
    assert "strategies[0].max_slots: 'two' given: 'two' is text, not a number" in err


def test_a_value_out_of_its_choices_is_named(tmp_path: Path) -> None:
    err = refused(tmp_path, venue="market_type = 'futures'")
    assert "venue.market_type: 'futures' given: Input should be 'spot' or 'linear'" in err


def test_a_risk_limit_is_checked_as_the_kernel_checks_it(tmp_path: Path) -> None:
    err = refused(tmp_path, top="[risk]\nmax_leverage = -1")
    assert "risk.max_leverage: -1 given" in err


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("0", "venue.poll_interval: 0 given: Input should be greater than 0"),
        ("-1.5", "venue.poll_interval: -1.5 given: Input should be greater than 0"),
        ("inf", "venue.poll_interval: inf given: Input should be a finite number"),
        ("nan", "venue.poll_interval: nan given: Input should be a finite number"),
        ("'2'", "venue.poll_interval: '2' given: '2' is text, not a number"),
        ("true", "venue.poll_interval: True given: True is a flag, not a number"),
    ],
)
def test_a_poll_interval_not_a_positive_finite_number_of_seconds_is_named_with_its_value(
    tmp_path: Path, given: str, problem: str
) -> None:
    assert problem in refused(tmp_path, venue=f"poll_interval = {given}")


def test_every_problem_is_said_at_once(tmp_path: Path) -> None:
    err = refused(tmp_path, venue="market_type = 'futures'\nbogus = 1", strategy="max_slots = 0")
    assert "venue.market_type" in err and "venue.bogus" in err and "strategies[0].max_slots" in err


def test_cluster_members_without_kind_hazelcast_are_refused_not_run_in_memory(tmp_path: Path) -> None:
    """Run in memory, the kernel would not hear the cluster's control plane the file names: a
    HALTED set there for every kernel would leave it trading."""
    err = refused(tmp_path, top='[projection]\nmembers = "hz1.internal:5701"\ncluster = "prod"')
    assert "projection.members: 'hz1.internal:5701' given: names a Hazelcast cluster" in err
    assert "projection.cluster: 'prod' given: names a Hazelcast cluster" in err
    assert "give kind = 'hazelcast' too" in err


def test_a_key_variable_not_set_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DITA_TEST_LIVE_KEY", raising=False)
    monkeypatch.setenv("DITA_TEST_LIVE_SECRET", "a-secret-never-printed")
    err = refused(tmp_path, "--live", top='mode = "live"')
    assert "venue.api_key_env: the environment variable 'DITA_TEST_LIVE_KEY' it names is not set" in err
    assert "venue.secret_env" not in err and "a-secret-never-printed" not in err


def test_the_checks_across_keys_come_once_every_value_is_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the Configuration page says: a bad value is said first, the unset variable once it is
    mended."""
    monkeypatch.delenv("DITA_TEST_LIVE_KEY", raising=False)
    monkeypatch.setenv("DITA_TEST_LIVE_SECRET", "a-secret-never-printed")
    err = refused(tmp_path, "--live", top='mode = "live"', venue="market_type = 'futures'")
    assert "venue.market_type: 'futures' given" in err and "DITA_TEST_LIVE_KEY" not in err
    err = refused(tmp_path, "--live", top='mode = "live"')
    assert "venue.api_key_env: the environment variable 'DITA_TEST_LIVE_KEY' it names is not set" in err


def test_a_token_too_short_for_the_gateway_is_named_not_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DITA_TEST_LIVE_TOKEN", "short-token")
    err = refused(tmp_path, top='[gateway]\ntoken_env = "DITA_TEST_LIVE_TOKEN"')
    assert "gateway.token_env: the token in 'DITA_TEST_LIVE_TOKEN' has 11 characters" in err
    assert "short-token" not in err and "Traceback" not in err


def test_a_live_strategy_without_its_research_run_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DITA_TEST_LIVE_KEY", "k")
    monkeypatch.setenv("DITA_TEST_LIVE_SECRET", "s")
    err = refused(tmp_path, "--live", top='mode = "live"')
    assert "strategies[0].source_run: missing: in mode live every intent names the research run" in err


UNREACHABLE = """
kernel_id = "{kernel_id}"
{top}
[venue]
exchange = "binance"
base_url = "http://127.0.0.1:9"
symbols = ["BTC/USDT"]
[[strategies]]
strategy = "dita.examples.crossover:SmaCrossover"
{strategy}
[gateway]
{gateway}
{tables}
"""


def refused_unwritten(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    kernel_id: str = "unwritten",
    top: str = "",
    strategy: str = "",
    gateway: str = "port = 0",
    tables: str = "",
) -> str:
    """What ``dita live`` says of a file it refuses: exit 2, before the exchange is asked (it cannot
    be reached: that is exit 1) and before anything is written in the working directory, where the
    run's state, log and journal go by default."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DITA_STATE_DIR", raising=False)
    path = tmp_path / "run.toml"
    path.write_text(
        UNREACHABLE.format(kernel_id=kernel_id, top=top, strategy=strategy, gateway=gateway, tables=tables)
    )
    result = CliRunner().invoke(app, ["live", "--config", str(path)])
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert written == ["run.toml"], written
    return str(result.stderr)


@pytest.mark.parametrize(
    "token",
    ["a-long-enough-token-with-cr\r", "a-long-enough-token-with-a-space ", "ein-langes-token-mit-ümlaut"],
)
def test_a_token_the_gateway_refuses_is_named_by_its_key_and_never_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    """No client could send it in a header; taken, the gateway's own settings refused it once the
    run was built, in a traceback printing it."""
    monkeypatch.setenv("DITA_TEST_LIVE_TOKEN", token)
    err = refused_unwritten(tmp_path, monkeypatch, gateway='port = 0\ntoken_env = "DITA_TEST_LIVE_TOKEN"')
    assert "gateway.token_env: the token in 'DITA_TEST_LIVE_TOKEN' must be printable ASCII" in err, err
    assert token.strip() not in err


@pytest.mark.parametrize(
    ("place", "text", "key"),
    [
        ("top", "max_slots = true", "max_slots"),
        ("strategy", "max_slots = true", "strategies[0].max_slots"),
        ("tables", "[paper]\nbalance = true", "paper.balance"),
        ("tables", "[paper]\nfee_rate = false", "paper.fee_rate"),
        ("tables", "[dead_man]\nstrategy_silence_s = true", "dead_man.strategy_silence_s"),
        ("tables", "[dead_man]\ncontrol_plane_silence_s = true", "dead_man.control_plane_silence_s"),
        ("tables", "[dead_man]\nstreams_silence_s = true", "dead_man.streams_silence_s"),
        ("gateway", "port = true", "gateway.port"),
    ],
)
def test_a_boolean_for_a_number_is_refused_naming_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, place: str, text: str, key: str
) -> None:
    """Pydantic would take true for 1: one slot, a balance of 1.0, a 1 s dead-man limit, port 1."""
    given = "False" if "false" in text else "True"
    err = refused_unwritten(tmp_path, monkeypatch, **{place: text})
    assert f"{key}: {given} given: {given} is a flag, not a number" in err, err


@pytest.mark.parametrize(
    ("place", "text", "key"),
    [
        ("tables", "[paper]\nbalance = 1e300", "paper.balance"),
        ("tables", "[paper]\nbalance = 2e15", "paper.balance"),
        ("tables", "[paper]\nfee_rate = 0.1", "paper.fee_rate"),
        ("tables", "[paper]\nfee_rate = 0.5", "paper.fee_rate"),
        ("kernel_id", "k" * 201, "kernel_id"),
        ("kernel_id", "btc 1", "kernel_id"),
        ("kernel_id", "btc-1\\t", "kernel_id"),
        ("gateway", 'port = 0\nhost = "127.0.0.1\\u0000x"', "gateway.host"),
    ],
)
def test_a_value_the_run_would_refuse_later_is_refused_naming_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, place: str, text: str, key: str
) -> None:
    """The paper venue's bounds (a balance up to the kernel's 1e15, a fee rate below 0.1), the
    kernel's id rule (1-200 bytes, no white space) and the gateway's host rule (no NUL) are the
    file's: past them the run ended after asking the exchange and writing its state, exit 1."""
    err = refused_unwritten(tmp_path, monkeypatch, **{place: text})
    assert f"{key}: " in err, err


@pytest.mark.parametrize(
    ("place", "text", "key"),
    [("top", 'state_dir = ""', "state_dir"), ("tables", '[log]\nwal_dir = " "', "log.wal_dir")],
)
def test_a_blank_directory_is_refused_not_taken_for_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, place: str, text: str, key: str
) -> None:
    err = refused_unwritten(tmp_path, monkeypatch, **{place: text})
    assert f"{key}: " in err and "blank: give a directory, or leave the key out" in err, err


@pytest.mark.parametrize("kernel_id", [".", ".."])
def test_a_kernel_id_naming_a_directory_of_its_own_path_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel_id: str
) -> None:
    """The id names the log's and the journal's directories: "." is <state_dir>/wal itself, where
    every kernel's log is, and ".." the state directory."""
    err = refused_unwritten(tmp_path, monkeypatch, kernel_id=kernel_id)
    assert f"kernel_id: {kernel_id!r} given: it names files" in err, err


SECOND = '[[strategies]]\nstrategy = "dita.examples.crossover:SmaCrossover"\n'


def test_two_strategies_of_one_class_are_refused_until_each_has_a_name(tmp_path: Path) -> None:
    """A strategy's name is its trade ids': two parameter sets of one class would share them."""
    err = refused(tmp_path, strategy=f"params = {{ fast = 2, slow = 5 }}\n{SECOND}params = {{ fast = 3 }}")
    assert (
        "strategies[1].strategy: 'dita.examples.crossover:SmaCrossover' given: strategies[0] runs under "
        "the name 'SmaCrossover' already; give this table a name of its own (name = ...)" in err
    ), err
    assert "on the log" not in err
    err = refused(tmp_path, strategy=f'name = "fast"\n{SECOND}name = "fast"')
    assert "strategies[1].name: 'fast' given: strategies[0] runs under the name 'fast' already" in err


def test_strategies_of_one_class_under_names_of_their_own_are_a_run(tmp_path: Path) -> None:
    from dita.live.config import load_config

    path = tmp_path / "run.toml"
    path.write_text(RUN.format(top="", venue="", strategy=f'name = "fast"\n{SECOND}'))
    config = load_config(path, environ={})
    assert [s.name for s in config.strategies] == ["fast", None]


@pytest.mark.parametrize(
    ("name", "why"),
    [("", "empty"), ("  ", "must be a printable name, not blank"), ("trend-r5", "ends like a restart mark")],
)
def test_a_strategy_name_its_ids_cannot_carry_is_named(tmp_path: Path, name: str, why: str) -> None:
    err = refused(tmp_path, strategy=f'name = "{name}"')
    assert f"strategies[0].name: {name!r} given: " in err and why in err, err


def test_a_strategy_slot_budget_over_the_kernels_is_refused_as_a_problem_of_the_file(tmp_path: Path) -> None:
    err = refused(tmp_path, top="max_slots = 10", strategy="max_slots = 50")
    assert "strategies[0].max_slots: 50 given: more slots than the kernel's max_slots 10" in err


def test_a_blank_source_run_is_refused(tmp_path: Path) -> None:
    err = refused(tmp_path, strategy='source_run = "  "')
    assert "strategies[0].source_run: '  ' given: blank" in err


def test_a_strategy_module_that_exits_at_import_is_named_not_a_silent_exit(tmp_path: Path) -> None:
    strategy_file = tmp_path / "exits_at_import.py"
    strategy_file.write_text("import sys\nsys.exit(0)\n")
    path = run_file(tmp_path)
    path.write_text(path.read_text().replace("dita.examples.crossover:SmaCrossover", f"{strategy_file}:S"))
    result = CliRunner().invoke(app, ["live", "--config", str(path)])
    assert result.exit_code == 2, result.output
    assert "strategy module 'exits_at_import' cannot be imported: SystemExit: 0" in result.stderr


def test_a_live_run_without_the_live_flag_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DITA_TEST_LIVE_KEY", "k")
    monkeypatch.setenv("DITA_TEST_LIVE_SECRET", "s")
    err = refused(tmp_path, top='mode = "live"', strategy='source_run = "research-1"')
    assert 'mode = "live" sends real orders' in err and "give --live on the command line" in err


def test_a_file_nested_too_deeply_is_refused_naming_it(tmp_path: Path) -> None:
    """Deeper than tomllib's recursion can follow: a RecursionError, which ended the run in a
    traceback."""
    path = tmp_path / "run.toml"
    path.write_text("a = " + "[" * 100_000)
    result = CliRunner().invoke(app, ["live", "--config", str(path)])
    assert result.exit_code == 2, result.output
    assert result.stderr == f"error: {path}: nested too deeply\n"


def test_a_file_that_is_not_toml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text("kernel_id = \n")
    result = CliRunner().invoke(app, ["live", "--config", str(path)])
    assert result.exit_code == 2 and "not TOML" in result.stderr


def test_serve_refuses_a_bad_run_file_the_same_way(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text(RUN.format(top="", venue="bogus = 1\npoll_interval = 0", strategy=""))
    result = CliRunner().invoke(app, ["serve", "--config", str(path)])
    assert result.exit_code == 2 and "venue.bogus: unknown key" in result.stderr
    assert "venue.poll_interval: 0 given: Input should be greater than 0" in result.stderr


def test_the_example_config_is_a_run() -> None:
    from dita.live.config import load_config

    example = Path(__file__).resolve().parents[2] / "python" / "dita" / "examples" / "live.toml"
    config = load_config(example, environ={"DITA_GATEWAY_TOKEN": "t" * 24})
    assert config.mode == "paper" and config.risk.max_notional_total == 200


def test_an_exchange_that_cannot_be_reached_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    unreachable = 'base_url = "http://127.0.0.1:9"\n[gateway]\nenabled = false'
    path.write_text(RUN.format(top=f'state_dir = "{tmp_path}"', venue=unreachable, strategy=""))
    result = CliRunner().invoke(app, ["live", "--config", str(path)])
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("mode: paper") and "error: cannot reach binance" in result.stderr


def test_a_bar_interval_the_exchange_does_not_have_is_named_by_its_key(
    tmp_path: Path, exchange: BinanceStreamServer
) -> None:
    """Known only once the exchange is asked, it was refused as ``--bar-interval``, an option
    of ``dita paper`` that ``dita live`` does not take."""
    path = tmp_path / "run.toml"
    venue = f'base_url = "{exchange.url}"\nbar_interval = "7s"\n[gateway]\nenabled = false'
    path.write_text(
        RUN.format(top=f'state_dir = "{tmp_path}"\n[journal]\nenabled = false', venue=venue, strategy="")
    )
    result = CliRunner().invoke(app, ["live", "--config", str(path)])
    assert result.exit_code == 2, result.output
    assert f"error: {path}: venue.bar_interval='7s' is not a kline interval of binance" in result.stderr
    assert "--bar-interval" not in result.stderr


@pytest.mark.parametrize("interval", ["1w", "1M"])
def test_weekly_and_monthly_bars_are_refused_naming_the_key(
    tmp_path: Path, exchange: BinanceStreamServer, interval: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The stream's bar clock counts periods in whole intervals from 1970-01-01 (a Thursday;
    ccxt's month is 30 days): no closing kline of the exchange's weeks or months would ever
    match a period it hands. Refused as the run is built, exit 2, before anything trades."""
    from dita.cli.live_run import LiveRun
    from dita.live.config import load_config

    path = tmp_path / "run.toml"
    venue = f'base_url = "{exchange.url}"\nbar_interval = "{interval}"\n[gateway]\nenabled = false'
    path.write_text(
        RUN.format(top=f'state_dir = "{tmp_path}"\n[journal]\nenabled = false', venue=venue, strategy="")
    )
    with pytest.raises(typer.Exit) as refused:
        LiveRun(load_config(path), path, print).close()
    assert refused.value.exit_code == 2
    said = f"error: {path}: venue.bar_interval={interval!r}: weekly, monthly and yearly bars are not"
    assert said in capsys.readouterr().err


def test_a_log_level_python_does_not_know_is_named(tmp_path: Path) -> None:
    err = refused(tmp_path, top='[logging]\nlevels = { "dita.venues" = "LOUD" }')
    assert "logging.levels" in err and "LOUD" in err


def test_the_logging_table_writes_json_lines_with_the_keys_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a --log-format, the file's [logging] table chooses; the venue's keys, named by
    the file, never reach a line."""
    import io
    import json
    import logging

    from dita.cli.live import _configure_logging
    from dita.live.config import parse_config
    from dita.logs import configure_logging, reset_logging

    monkeypatch.setenv("DITA_TEST_LIVE_KEY", "key-that-must-not-show")
    monkeypatch.setenv("DITA_TEST_LIVE_SECRET", "secret-that-must-not-show")
    raw = {
        "kernel_id": "logs",
        "venue": {"exchange": "binance", "symbols": ["BTC/USDT"], "api_key_env": "DITA_TEST_LIVE_KEY",
                  "secret_env": "DITA_TEST_LIVE_SECRET"},
        "strategies": [{"strategy": "dita.examples.crossover:SmaCrossover"}],
        "logging": {"format": "json", "levels": {"dita.venues": "DEBUG"}},
    }  # fmt: skip
    config = parse_config(raw, tmp_path / "run.toml", environ={})
    reset_logging()
    try:
        _configure_logging(config)
        assert logging.getLogger("dita.venues").level == logging.DEBUG
        stream = io.StringIO()
        configure_logging(format=config.logging.format, levels=config.logging.levels, stream=stream)
        logging.getLogger("dita.venues.ccxt").debug("signed with key-that-must-not-show")
        line = json.loads(stream.getvalue().splitlines()[-1])
        assert line["component"] == "dita.venues.ccxt" and "must-not-show" not in line["message"]
    finally:
        reset_logging()


@pytest.mark.parametrize("kind", ["over the cap", "a character device"])
def test_a_file_that_is_no_config_is_refused_unread(tmp_path: Path, kind: str) -> None:
    """A data dump named by mistake was read whole into memory (a link to /dev/zero until memory
    ran out) before TOML refused it."""
    path = tmp_path / "run.toml"
    if kind == "a character device":
        path.symlink_to("/dev/zero")
        said = "a character device, not a regular file"
    else:
        with path.open("wb") as f:
            f.truncate(3 << 30)  # sparse: it takes no disk, and is never read
        said = "3,221,225,472 bytes, over the 1,048,576 bytes a config file may hold"
    result = CliRunner().invoke(app, ["live", "--config", str(path)])
    assert result.exit_code == 2, result.output
    assert f"{path}: cannot read the file: {said}" in str(result.stderr)


@pytest.mark.parametrize(
    ("where", "key"),
    [
        ('state_dir = "{file}"', "state_dir"),
        ('state_dir = "{file}/state"', "state_dir"),
        ('[log]\nwal_dir = "{file}/wal"', "log.wal_dir"),
        ('[journal]\ndsn = "chdb://{file}/journal"', "journal.dsn"),
    ],
)
def test_a_directory_key_where_a_file_stands_is_refused_naming_the_key_and_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, key: str
) -> None:
    """The run makes the directories of its state file, log and journal: a file in the way would
    fail that once the journal or the log were open, a traceback."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DITA_STATE_DIR", raising=False)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    text = where.format(file=blocker)
    state = f'state_dir = "{tmp_path / "state"}"'
    top, tables = (text, "") if where.startswith("state_dir") else (state, text)
    path = tmp_path / "run.toml"
    path.write_text(
        UNREACHABLE.format(kernel_id="k", top=top, strategy="", gateway="port = 0", tables=tables)
    )
    result = CliRunner().invoke(app, ["live", "--config", str(path)])
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    assert f"{key}: " in result.stderr and f"{blocker} is a file" in result.stderr, result.stderr
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert written == ["a-file", "run.toml"], written
