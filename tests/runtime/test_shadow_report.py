"""The shadow run's report against what the kernel's guard decided."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from dita.cli import app
from dita.shadow import ShadowSettings, run_shadow


def test_limits_below_one_quote_show_as_risk_blocks_not_as_silence() -> None:
    # A cap smaller than one quote: the kernel refuses every bid and ask, and the report says
    # so. The quoter's own inventory band (twice the total cap) used to stop it quoting at
    # all under 500 USD, so the report read 0 orders and 0 blocks, as if nothing had tried.
    settings = ShadowSettings(symbols=["BTCUSDT"], iterations=5, max_inv=400, max_total=400, edge_threshold=0)
    report = run_shadow(settings)
    assert report["orders"]["placed"] == 0
    assert report["orders"]["risk_blocks"] == report["risk"]["blocks_total"] == 2 * 5
    assert report["positions"]["by_symbol"] == {"BTCUSDT": 0.0}


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
    # A refusal of two options together has no one option to name: it used to read
    # "settings={'symbols': [...], 'iterations': 50, ...}: Value error, ...", an option that
    # does not exist followed by every value given. The fields it compares are named as the
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
