"""``python -m dita.data --days 365 --out year.parquet``: write deterministic sample bars."""

from __future__ import annotations

import argparse

from dita.data import generate_bars, write_bars


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dita.data", description=__doc__)
    parser.add_argument("--out", required=True, help="output file, .csv or .parquet")
    parser.add_argument("--days", type=float, default=3.0)
    parser.add_argument("--interval", type=float, default=60.0, help="bar length in seconds")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    path = write_bars(generate_bars(days=args.days, interval_s=args.interval, seed=args.seed), args.out)
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
