"""``dita paper --ccxt-exchange`` run in-process closes the ccxt venue it follows (its HTTP
session, idle connections to the exchange) however the command ends: the data's end, an error
exit, Ctrl-C. It was never closed, which a CLI process hides by exiting and a program running
the command in-process does not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dita.cli import app
from dita.venues.ccxt import CcxtVenue
from runtime.test_paper_live import EAGER_QUOTER, FakeBinance


@pytest.fixture
def fake_binance() -> Iterator[FakeBinance]:
    server = FakeBinance()
    yield server
    server.close()


@pytest.fixture
def venues(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[CcxtVenue]]:
    """The ccxt venues the command made (each loads its markets once) and those it closed."""
    seen: dict[str, list[CcxtVenue]] = {"made": [], "closed": []}
    load, close = CcxtVenue.load_markets, CcxtVenue.close

    def loading(self: CcxtVenue, *args: Any, **kwargs: Any) -> Any:
        seen["made"].append(self)
        return load(self, *args, **kwargs)

    def closing(self: CcxtVenue) -> None:
        seen["closed"].append(self)
        close(self)

    monkeypatch.setattr(CcxtVenue, "load_markets", loading)
    monkeypatch.setattr(CcxtVenue, "close", closing)
    monkeypatch.setenv("DITA_CCXT_API_KEY", "")
    monkeypatch.setenv("DITA_CCXT_SECRET", "")
    return seen


def _paper(url: str, tmp_path: Path, *args: str, strategy: tuple[str, ...] = EAGER_QUOTER) -> Any:
    options = ["--ccxt-exchange", "binance", "--ccxt-base-url", url, "--poll", "0.1"]
    options += ["--state-dir", str(tmp_path / "state"), *args]
    return CliRunner().invoke(app, ["paper", *strategy, *options])


def test_the_feeds_venue_is_closed_when_the_run_ends(
    fake_binance: FakeBinance, tmp_path: Path, venues: dict[str, list[CcxtVenue]]
) -> None:
    result = _paper(fake_binance.url, tmp_path, "--duration", "1")
    assert result.exit_code == 0, result.output
    assert fake_binance.polls > 0
    assert len(venues["made"]) == 1 and venues["closed"] == venues["made"]


@pytest.mark.parametrize("refused", ["not-a-market", "bars-interval"])
def test_the_feeds_venue_is_closed_when_the_command_refuses_an_option(
    fake_binance: FakeBinance, tmp_path: Path, venues: dict[str, list[CcxtVenue]], refused: str
) -> None:
    # Each refused once the venue is made and its markets loaded.
    if refused == "not-a-market":
        result = _paper(fake_binance.url, tmp_path, "--symbols", "NOPE/USDT")
    else:
        bars = ("--strategy", "dita.examples.crossover:SmaCrossover", "--bar-interval", "2m")
        result = _paper(fake_binance.url, tmp_path, strategy=bars)
    assert result.exit_code == 2, result.output
    assert len(venues["made"]) == 1 and venues["closed"] == venues["made"]


def test_a_state_dir_that_is_a_file_is_refused_before_the_feeds_venue_is_made(
    fake_binance: FakeBinance, tmp_path: Path, venues: dict[str, list[CcxtVenue]]
) -> None:
    (tmp_path / "a-file").write_text("")
    result = _paper(fake_binance.url, tmp_path / "a-file")
    assert result.exit_code == 2, result.output
    assert "--state-dir" in result.output
    assert venues["made"] == []


def test_the_feeds_venue_is_closed_when_the_exchange_is_unreachable(
    tmp_path: Path, venues: dict[str, list[CcxtVenue]]
) -> None:
    result = _paper("http://127.0.0.1:9", tmp_path)
    assert result.exit_code == 1, result.output
    assert len(venues["made"]) == 1 and venues["closed"] == venues["made"]


def test_the_feeds_venue_is_closed_on_ctrl_c(
    fake_binance: FakeBinance,
    tmp_path: Path,
    venues: dict[str, list[CcxtVenue]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def interrupted(self: CcxtVenue, *args: Any, **kwargs: Any) -> Any:
        venues["made"].append(self)
        raise KeyboardInterrupt

    monkeypatch.setattr(CcxtVenue, "load_markets", interrupted)
    result = _paper(fake_binance.url, tmp_path)
    assert result.exit_code != 0
    assert len(venues["made"]) == 1 and venues["closed"] == venues["made"]
