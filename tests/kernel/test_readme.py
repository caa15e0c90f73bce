"""The README's Python example runs and prints what its comments say, so it cannot drift."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def _example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1, "the README has one Python example"
    return str(blocks[0])


def _expected(code: str) -> list[str]:
    """The comment of each print line, less a closing note in brackets."""
    found = []
    for line in code.splitlines():
        if line.lstrip().startswith("print(") and "#" in line:
            comment = line.split("#", 1)[1].strip()
            found.append(re.sub(r"\s+\([^()]*\)$", "", comment))
    return found


def test_the_readme_example_prints_what_its_comments_say() -> None:
    code = _example()
    expected = _expected(code)
    assert len(expected) == 4, expected
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {"__name__": "readme"})
    printed = out.getvalue().splitlines()
    assert len(printed) == len(expected), printed
    for got, want in zip(printed, expected, strict=True):
        if "..." in want:
            # `...` stands for the rest of the line (the value the README does not spell out).
            assert got.startswith(want.split("...", 1)[0]), (got, want)
        else:
            assert got == want, (got, want)
