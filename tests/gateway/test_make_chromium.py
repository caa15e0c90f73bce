"""`make chromium` (run by `make test`) on a machine without Chromium, as a developer who is
not root: a message saying what is missing and what to do, not apt's lock-file error."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _bin(tmp_path: Path, uid: int) -> tuple[Path, Path]:
    """A PATH holding make and sh, an ``id`` answering ``uid`` and an apt-get that logs calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("make", "sh"):
        found = shutil.which(tool)
        if found is None:
            pytest.skip(f"{tool} is not installed: NOT tested")
        (bin_dir / tool).symlink_to(found)
    log = tmp_path / "apt.log"
    for name, body in (("id", f"echo {uid}"), ("apt-get", f"echo \"$@\" >> '{log}'")):
        script = bin_dir / name
        script.write_text(f"#!{shutil.which('sh')}\n{body}\n")
        script.chmod(0o755)
    return bin_dir, log


def _make_chromium(bin_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "-s", "-C", str(ROOT), "chromium"],
        env={**os.environ, "PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_make_chromium_as_a_user_names_what_to_install(tmp_path: Path) -> None:
    bin_dir, log = _bin(tmp_path, uid=1000)
    done = _make_chromium(bin_dir)
    assert done.returncode != 0
    assert "neither chromium nor chromium-browser is on PATH" in done.stderr
    assert "apt-get install chromium" in done.stderr
    assert not log.exists()  # apt-get would only fail on its lock file


def test_make_chromium_as_root_installs_it(tmp_path: Path) -> None:
    bin_dir, log = _bin(tmp_path, uid=0)
    done = _make_chromium(bin_dir)
    assert done.returncode == 0, done.stderr
    assert [line.split()[0] for line in log.read_text().splitlines()] == ["update", "install"]


@pytest.mark.parametrize("name", ["chromium", "chromium-browser"])
@pytest.mark.parametrize("uid", [0, 1000])
def test_make_chromium_takes_either_name_of_the_browser(tmp_path: Path, name: str, uid: int) -> None:
    """Ubuntu names the browser chromium-browser, Debian chromium; the browser tests take
    either, so make must not stop a user (or reinstall as root) for want of the other name."""
    bin_dir, log = _bin(tmp_path, uid=uid)
    browser = bin_dir / name
    browser.write_text(f"#!{shutil.which('sh')}\nexit 0\n")
    browser.chmod(0o755)
    done = _make_chromium(bin_dir)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and not log.exists()
