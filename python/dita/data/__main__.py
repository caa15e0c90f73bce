"""``python -m dita.data --days 365 --out year.parquet``: write deterministic sample bars."""

from __future__ import annotations

import argparse
from pathlib import Path

from dita.data import bar_span_problem, generate_bars, table_format, write_bars


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dita.data", description=__doc__)
    parser.add_argument("--out", required=True, help="output file, .csv, .csv.gz or .parquet")
    parser.add_argument("--days", type=float, default=3.0)
    parser.add_argument("--interval", type=float, default=60.0, help="bar length in seconds")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    # parser.error prints the usage and exits 2, before anything is written.
    problem = bar_span_problem(args.days, args.interval, days_name="--days", interval_name="--interval")
    if problem:
        parser.error(problem)
    ms = args.interval * 1000
    if round(ms) < 1 or abs(ms - round(ms)) > 1e-9 * ms:
        # Each bar's time is written to the millisecond: finer ones would be written as repeated
        # or uneven times, which every reader of the file then refuses.
        parser.error(f"--interval={args.interval!r} must be a whole number of milliseconds (0.001 or more)")
    if args.seed < 0:
        parser.error(f"--seed={args.seed!r} must be zero or more")
    out = Path(args.out)
    if table_format(out) is None:
        parser.error(f"--out {args.out}: unknown file type (use .csv, .csv.gz or .parquet)")
    if out.is_dir():
        parser.error(f"--out {args.out} is a directory; give a file name")
    blocker = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        parser.error(f"--out {args.out}: {blocker} is a file, not a directory")
    try:
        path = write_bars(generate_bars(days=args.days, interval_s=args.interval, seed=args.seed), out)
    except OSError as exc:
        parser.error(f"--out {args.out}: cannot write: {exc.strerror or exc}")
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
