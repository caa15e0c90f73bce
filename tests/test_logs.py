"""Structured logging (``dita.logs``): JSON lines that parse, the ids of a fill's whole path on
its lines (``dita paper`` on the sample data, at DEBUG), no secret in any line, and a level per
component, set in code, by the root command's options or by the environment."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

import pytest
from typer.testing import CliRunner

from dita import ExecutionKernel, MockVenueAdapter
from dita.cli import app
from dita.gateway.stdio import run_stdio
from dita.logs import (
    configure_logging,
    configure_logging_from_env,
    log_context,
    order_ids,
    parse_levels,
    redact,
    register_secret,
    reset_logging,
)

FAKE_KEY = "fake-api-key-5c1b7e90"
FAKE_SECRET = "fake-secret-aa43f1d2"
FAKE_TOKEN = "fake-listen-key-77e0b3c4"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Log lines written to a buffer; the configuration undone after the test."""
    out = io.StringIO()
    yield out
    reset_logging()


def lines_of(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_json_line_carries_time_level_component_message_and_the_ids(captured: io.StringIO) -> None:
    configure_logging("json", {"dita.kernel": "DEBUG"}, stream=captured)
    log = logging.getLogger("dita.kernel")
    log.debug("fill %s", "booked", extra={"kernel_id": "k1", "seq": 7, "slot_id": 0, "trade_id": "t1"})
    with log_context(kernel_id="k2", client_order_id="c1"):
        log.info("sent", extra={"venue_order_id": "v1"})
    try:
        raise ZeroDivisionError("broken")
    except ZeroDivisionError:
        log.exception("raised")
    first, second, third = lines_of(captured)
    assert first["level"] == "DEBUG" and first["component"] == "dita.kernel"
    assert first["message"] == "fill booked"
    assert first["time"].endswith("Z") and "T" in first["time"]
    assert {k: first[k] for k in ("kernel_id", "seq", "slot_id", "trade_id")} == {
        "kernel_id": "k1",
        "seq": 7,
        "slot_id": 0,
        "trade_id": "t1",
    }
    assert (second["kernel_id"], second["client_order_id"], second["venue_order_id"]) == ("k2", "c1", "v1")
    assert "kernel_id" not in third  # the context ended with its block
    assert "ZeroDivisionError: broken" in third["exception"]


def test_the_text_line_is_for_a_person(captured: io.StringIO) -> None:
    configure_logging("text", stream=captured)
    logging.getLogger("dita.runtime").warning("slow venue", extra={"trade_id": "t9"})
    line = captured.getvalue().strip()
    assert " WARNING dita.runtime: slow venue | trade_id=t9" in line
    assert not line.startswith("{")


def test_secrets_are_redacted_by_value_and_by_name(captured: io.StringIO) -> None:
    configure_logging("json", "DEBUG", stream=captured, secrets=[FAKE_KEY, FAKE_SECRET])
    register_secret(FAKE_TOKEN)
    log = logging.getLogger("dita.venues.ccxt")
    log.debug("headers {'X-MBX-APIKEY': '%s'} body secret=%s", FAKE_KEY, FAKE_SECRET)
    log.info("stream at wss://host/ws/%s", FAKE_TOKEN)
    log.info("Authorization: Bearer abc.def.ghi; password=hunter22 token: zzz999 signature=0af3")
    log.info("sent", extra={"api_key": "unregistered-key", "listenKey": "unregistered", "trade_id": "t1"})
    text = captured.getvalue()
    for secret in (
        FAKE_KEY,
        FAKE_SECRET,
        FAKE_TOKEN,
        "abc.def.ghi",
        "hunter22",
        "zzz999",
        "0af3",
        "unregistered",
    ):
        assert secret not in text
    lines = lines_of(captured)
    assert lines[2]["message"] == "Authorization: Bearer ***; password=*** token: *** signature=***"
    assert lines[3]["api_key"] == "***" and lines[3]["listenKey"] == "***" and lines[3]["trade_id"] == "t1"
    assert redact("trade_id=t1 client_order_id=k-1") == "trade_id=t1 client_order_id=k-1"


def test_levels_are_set_per_component(captured: io.StringIO) -> None:
    configure_logging("json", ["dita.venues.ccxt=DEBUG", "dita.runtime=ERROR"], stream=captured)
    logging.getLogger("dita.venues.ccxt").debug("venue detail")
    logging.getLogger("dita.venues.ccxt.wire.binance").debug("wire detail")  # a child takes its parent's
    logging.getLogger("dita.runtime").warning("runtime warning")
    logging.getLogger("dita.kernel").info("kernel info")  # dita's default: INFO
    logging.getLogger("dita.kernel").debug("kernel detail")
    logging.getLogger("some.library").info("library info")  # the rest: WARNING
    assert [line["message"] for line in lines_of(captured)] == ["venue detail", "wire detail", "kernel info"]
    reset_logging()
    assert logging.getLogger("dita.runtime").level == logging.NOTSET


def test_bad_levels_and_formats_are_refused_naming_the_value() -> None:
    assert parse_levels("dita.kernel=debug, WARNING") == {
        "dita.kernel": logging.DEBUG,
        "dita": logging.WARNING,
    }
    with pytest.raises(ValueError, match=r"'dita\.kernel': 'LOUD' is not a level"):
        parse_levels(["dita.kernel=LOUD"])
    with pytest.raises(ValueError, match="no component before '='"):
        parse_levels(["=DEBUG"])
    with pytest.raises(ValueError, match="log format: 'xml' is not one of text, json"):
        configure_logging("xml")
    with pytest.raises(ValueError, match="DITA_LOG_FORMAT/DITA_LOG_LEVEL: log format: 'yaml'"):
        configure_logging_from_env({"DITA_LOG_FORMAT": "yaml"})


def test_the_environment_configures_logging(captured: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    assert configure_logging_from_env({}) is False
    monkeypatch.setattr(sys, "stderr", captured)
    assert configure_logging_from_env({"DITA_LOG_FORMAT": "json", "DITA_LOG_LEVEL": "dita.gateway=DEBUG"})
    logging.getLogger("dita.gateway.engine").debug("order taken")
    assert lines_of(captured)[0]["component"] == "dita.gateway.engine"


def test_order_ids_reads_what_each_source_knows() -> None:
    class Order:
        trade_id, slot_id, client_order_id, venue_order_id = "t1", 2, "k-1", ""

    class Outcome:
        seq, slot_id, trade_id, order = 41, 2, "t1", None

    class Kernel:
        kernel_id = "k"

    assert order_ids(Kernel(), outcome=Outcome(), order=Order(), strategy="s") == {
        "trade_id": "t1",
        "slot_id": 2,
        "client_order_id": "k-1",
        "seq": 41,
        "kernel_id": "k",
        "strategy": "s",
    }
    assert order_ids(object()) == {}  # a stand-in without the names gives none


def test_the_root_command_refuses_a_bad_log_option() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["--log-format", "xml", "demo"])
    assert result.exit_code == 2 and "--log-format" in result.output and "'xml'" in result.output
    result = runner.invoke(app, ["--log-level", "dita.kernel=LOUD", "demo"])
    assert result.exit_code == 2 and "--log-level" in result.output and "'LOUD'" in result.output
    reset_logging()


def test_a_paper_fill_s_whole_path_is_logged_with_its_ids_and_no_secret(tmp_path: Path) -> None:
    """``dita --log-format json --log-level DEBUG paper`` on the sample data: every line parses,
    each intent's and fill's line names the kernel, the trade and the order, and the API keys in
    its environment show nowhere."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        "DITA_CCXT_API_KEY": FAKE_KEY,
        "DITA_CCXT_SECRET": FAKE_SECRET,
    }
    args = ["--log-format", "json", "--log-level", "DEBUG", "paper", "--strategy"]
    args += ["dita.examples.crossover:SmaCrossover", "--data", "sample", "--max-speed"]
    args += ["--state-dir", str(tmp_path / "state"), "--kernel-id", "log-k1"]
    done = subprocess.run(
        [sys.executable, "-m", "dita", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    intents = [line for line in lines if line["message"].startswith("intent ")]
    taken = [line for line in lines if line["message"].startswith("venue event ")]
    fills = [line for line in lines if line["message"].startswith("fill of ")]
    assert intents and taken and fills
    for line in intents + taken + fills:
        assert line["kernel_id"] == "log-k1" and line["trade_id"] and line["client_order_id"], line
        assert line["component"] == "dita.runtime" and line["level"] == "DEBUG"
    assert all(line["seq"] > 0 for line in intents + taken)
    assert all(line["venue_order_id"] and line["fill_id"] for line in taken + fills)
    # One fill followed from its intent: the same trade and order on each line.
    fill = fills[0]
    path = [line for line in lines if line.get("client_order_id") == fill["client_order_id"]]
    assert {line["trade_id"] for line in path} == {fill["trade_id"]} and len(path) >= 3
    assert FAKE_KEY not in done.stderr + done.stdout and FAKE_SECRET not in done.stderr + done.stdout


def test_a_gateway_order_s_lines_carry_its_ids(captured: io.StringIO) -> None:
    """The stdio/HTTP gateway's engine: an ORDER filled at once, at DEBUG."""
    configure_logging("json", {"dita.gateway": "DEBUG"}, stream=captured)
    kernel = ExecutionKernel(max_slots=2, venue=MockVenueAdapter(fill_rate=1.0), kernel_id="gw-k1")
    out = io.BytesIO()
    assert run_stdio(kernel, cast(BinaryIO, io.BytesIO(b"ORDER BUY BTC 1 50000 g1\n")), out) == 0
    lines = lines_of(captured)
    order = [line for line in lines if line["message"].startswith("ORDER g1 ENTER")]
    fills = [line for line in lines if line["message"].startswith("fill of ORDER g1")]
    assert len(order) == 1 and fills
    for line in order + fills:
        assert line["component"] == "dita.gateway.engine" and line["kernel_id"] == "gw-k1"
        assert line["trade_id"] == "g1" and line["slot_id"] == 0 and line["client_order_id"]
        assert line["gateway_client_id"] == "g1"
    assert order[0]["seq"] > 0 and fills[0]["venue_order_id"] and fills[0]["fill_id"]
