"""A line said on stderr during a stop whose reader is gone is dropped, so the stop ends whole;
any other failure to write it is raised."""

from __future__ import annotations

import errno
import os

import pytest

from dita._signals import unread_dropped


def test_a_line_to_a_closed_pipe_is_dropped() -> None:
    with unread_dropped():
        raise BrokenPipeError(errno.EPIPE, "the reader is gone")


@pytest.mark.parametrize(("terminal", "dropped"), [(True, True), (False, False)])
def test_an_io_error_is_dropped_on_a_hung_up_terminal_and_raised_on_a_file(
    monkeypatch: pytest.MonkeyPatch, terminal: bool, dropped: bool
) -> None:
    monkeypatch.setattr(os, "isatty", lambda fd: terminal)
    if dropped:
        with unread_dropped():
            raise OSError(errno.EIO, "the terminal hung up")
    else:
        with pytest.raises(OSError), unread_dropped():
            raise OSError(errno.EIO, "the disk failed")


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EAGAIN])
def test_another_write_error_is_raised(code: int) -> None:
    with pytest.raises(OSError) as raised, unread_dropped():
        raise OSError(code, "not a gone reader")
    assert raised.value.errno == code
