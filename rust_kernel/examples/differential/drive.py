"""The differential check: builds the harness (main.rs beside this file) in the current tree
and in a scratch clone of the repository at a base commit, runs both over the same seeds,
and compares every sequence's digest. On a difference it prints the first differing seed and
the first differing line of the two builds' dumps, and exits 1.

    python3 rust_kernel/examples/differential/drive.py --base fb65ddc --sequences 4000 --len 300

The scratch clone, and each tree's cargo target folder, live under var/differential/.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

HARNESS = Path(__file__).resolve().parent
ROOT = HARNESS.parents[2]
EXAMPLE = "differential"


def git(*args: str, cwd: Path = ROOT) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def base_tree(work: Path, base: str) -> Path:
    """A clone of this repository at `base`, with the harness copied in."""
    tree = work / "base"
    if not (tree / ".git").exists():
        tree.parent.mkdir(parents=True, exist_ok=True)
        git("clone", "--quiet", "--shared", "--no-checkout", str(ROOT), str(tree))
    commit = git("rev-parse", "--verify", f"{base}^{{commit}}")
    if subprocess.run(["git", "cat-file", "-e", commit], cwd=tree).returncode != 0:
        git("fetch", "--quiet", str(ROOT), commit, cwd=tree)
    git("checkout", "--quiet", "--force", "--detach", commit, cwd=tree)
    git("clean", "--quiet", "-fdx", "--exclude=/target", cwd=tree)
    shutil.copytree(HARNESS, tree / "rust_kernel" / "examples" / EXAMPLE, dirs_exist_ok=True)
    print(f"base: {base} = {commit[:12]} in {tree}", flush=True)
    return tree


def build(trees: dict[str, Path], work: Path) -> dict[str, Path]:
    """Builds the harness in each tree at once (debug profile: overflow checks and debug
    assertions on); returns each binary."""
    jobs = {}
    for name, tree in trees.items():
        target = work / f"target-{name}"
        env = dict(os.environ, CARGO_TARGET_DIR=str(target), CARGO_TERM_PROGRESS_WHEN="never")
        cmd = ["cargo", "build", "--quiet", "--manifest-path", str(tree / "rust_kernel" / "Cargo.toml")]
        jobs[name] = (subprocess.Popen([*cmd, "--example", EXAMPLE], env=env), target)
    for name, (job, _) in jobs.items():
        if job.wait() != 0:
            sys.exit(f"building the harness in the {name} tree failed")
    return {name: target / "debug" / "examples" / EXAMPLE for name, (_, target) in jobs.items()}


def run_both(binaries: dict[str, Path], args: list[str]) -> dict[str, list[str]]:
    """Runs each build with `args` at once; returns each one's output lines."""
    jobs = {
        name: subprocess.Popen([str(b), *args], stdout=subprocess.PIPE, text=True)
        for name, b in binaries.items()
    }
    out = {}
    for name, job in jobs.items():
        stdout, _ = job.communicate()
        if job.returncode != 0:
            sys.exit(f"the {name} build's harness failed ({job.returncode}) on {' '.join(args)}")
        out[name] = stdout.splitlines()
    return out


def first_difference(binaries: dict[str, Path], seed: int, length: int) -> None:
    dumps = run_both(binaries, ["--dump", str(seed), "--len", str(length)])
    head, base = dumps["head"], dumps["base"]
    for i, (h, b) in enumerate(zip(head, base, strict=False)):
        if h != b:
            print(f"first differing line of seed {seed}: line {i + 1}")
            print(f"  base: {b[:1500]}")
            print(f"  head: {h[:1500]}")
            return
    print(f"seed {seed}: the dumps differ in length ({len(base)} base lines, {len(head)} head)")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", default="fb65ddc")
    p.add_argument("--sequences", type=int, default=4000)
    p.add_argument("--len", type=int, default=300, dest="length")
    p.add_argument("--from", type=int, default=0, dest="first")
    p.add_argument("--chunk", type=int, default=250)
    p.add_argument("--work", type=Path, default=ROOT / "var" / "differential")
    a = p.parse_args()
    trees = {"head": ROOT, "base": base_tree(a.work, a.base)}
    binaries = build(trees, a.work)
    sequences = inputs = taken = rows = 0
    differing: list[int] = []
    end = a.first + a.sequences
    chunks = range(a.first, end, a.chunk)
    for n, start in enumerate(chunks, 1):
        count = min(a.chunk, end - start)
        args = ["--from", str(start), "--count", str(count), "--len", str(a.length)]
        out = run_both(binaries, args)
        if len(out["head"]) != count or len(out["base"]) != count:
            sys.exit(f"chunk from seed {start}: expected {count} lines from each build")
        for h, b in zip(out["head"], out["base"], strict=True):
            # seed <n> <digest> <inputs> <accepted> <journal rows>
            _, seed, _, n_inputs, n_taken, n_rows = h.split()
            sequences += 1
            inputs += int(n_inputs)
            taken += int(n_taken)
            rows += int(n_rows)
            if h != b:
                differing.append(int(seed))
        print(
            f"chunk {n}/{len(chunks)}: {sequences} sequences compared, {len(differing)} differences",
            flush=True,
        )
    print(
        f"differential: {sequences} sequences of {a.length} inputs, {inputs} inputs, "
        f"{taken} accepted, {rows} journal rows, {len(differing)} differences"
    )
    if differing:
        print(f"differing seeds (first 20): {differing[:20]}")
        first_difference(binaries, differing[0], a.length)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
