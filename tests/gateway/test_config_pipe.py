"""`dita serve --config <(...)`: a config handed over through a pipe (process substitution,
a FIFO a secrets tool writes) is read once, to its end. It was refused as "a FIFO, not a
regular file", so a token could not be passed without writing it to disk; a pipe nobody
writes to, or whose writer never finishes, is refused naming it rather than waited on for
ever, and one over the cap is refused as a file is."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dita import _files
from dita.gateway.config import CONFIG_FILE_BYTES, load_settings
from gateway.helpers import DITA


@contextlib.contextmanager
def _writer(fifo: Path, *parts: bytes) -> Iterator[None]:
    """A thread writing ``parts`` into ``fifo`` once a reader has it open (given up after 60 s
    without one, so a reader that never opens it fails the test rather than hangs it)."""

    def write() -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError as exc:
                if exc.errno != errno.ENXIO or time.monotonic() > deadline:
                    return
                time.sleep(0.01)
        os.set_blocking(fd, True)
        try:
            with contextlib.suppress(BrokenPipeError):  # a reader that stopped at the cap
                for part in parts:
                    os.write(fd, part)
        finally:
            os.close(fd)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        yield
    finally:
        thread.join()


def test_a_fifo_is_read_to_its_end(tmp_path: Path) -> None:
    cfg = tmp_path / "gateway.toml"
    os.mkfifo(cfg)
    with _writer(cfg, b"[gateway]\nport = 9123\n", b"max_slots = 7\n"):
        settings = load_settings(cfg)
    assert (settings.port, settings.max_slots) == (9123, 7)


def test_a_fifo_nobody_writes_to_is_refused_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_files, "PIPE_WAIT_S", 0.2)
    cfg = tmp_path / "gateway.toml"
    os.mkfifo(cfg)
    with pytest.raises(ValueError, match=r"^a FIFO whose writer did not finish within 0.2s$"):
        load_settings(cfg)


def test_a_pipe_over_the_cap_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "gateway.toml"
    os.mkfifo(cfg)
    with (
        _writer(cfg, b"[gateway]\n#" + b"x" * CONFIG_FILE_BYTES),
        pytest.raises(ValueError, match=r"grew as it was read past the 1,048,576 bytes"),
    ):
        load_settings(cfg)


def _serve_with_piped_config(tmp_path: Path, toml: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``dita serve --config <(printf TOML) --openapi-out FILE``, and FILE."""
    schema = tmp_path / "openapi.json"
    script = f'exec "$@" --config <(printf "{toml}") --openapi-out {schema}'
    done = subprocess.run(
        ["bash", "-c", script, "bash", *DITA, "serve"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done, schema


def test_serve_takes_its_config_through_process_substitution(tmp_path: Path) -> None:
    done, schema = _serve_with_piped_config(tmp_path, "[gateway]\\nport = 0\\n")
    assert done.returncode == 0, done.stderr
    assert schema.exists()


def test_serve_reads_a_piped_config_once_and_takes_what_it_says(tmp_path: Path) -> None:
    """The pipe was read once to see whether it configures a run, and the gateway's settings
    then came from the empty rest of it: a bad value through the pipe went unnoticed."""
    done, schema = _serve_with_piped_config(tmp_path, "[gateway]\\nmax_slots = 0\\n")
    assert done.returncode == 2, done.stderr
    assert "gateway.max_slots" in done.stderr
    assert not schema.exists()
