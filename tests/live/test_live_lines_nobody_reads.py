"""A line said during a stop whose reader is gone is dropped, so the stop ends whole; any other
failure to write it is raised."""

from __future__ import annotations

import errno

import pytest

from dita._signals import unread_dropped


@pytest.mark.parametrize("code", [errno.EPIPE, errno.EIO])
def test_a_line_whose_reader_is_gone_is_dropped(code: int) -> None:
    with unread_dropped():
        raise OSError(code, "the reader is gone")


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EAGAIN])
def test_another_write_error_is_raised(code: int) -> None:
    with pytest.raises(OSError) as raised, unread_dropped():
        raise OSError(code, "not a gone reader")
    assert raised.value.errno == code
