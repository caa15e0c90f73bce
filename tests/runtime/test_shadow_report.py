"""The shadow run's report against what the kernel's guard decided."""

from __future__ import annotations

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
