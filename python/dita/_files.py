"""Files replaced whole: written beside their name, synced, then renamed over it, so a reader
never sees half a file and a write cut short (a full disk, a crash) leaves the old one. And
files read whole, only when regular and, with a limit, no larger than it; and a document read
from one, nested deeper than the parser can follow, refused (``NestedTooDeeply``), as is a JSON
object giving a key twice (``one_value_each``)."""

from __future__ import annotations

import contextlib
import json
import os
import select
import stat
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "GivenTwice",
    "NestedTooDeeply",
    "NotRegularFile",
    "PipeNotFinished",
    "TooLarge",
    "loads_one_value_each",
    "one_value_each",
    "parsed",
    "regular_file_bytes",
    "replace_all_whole",
    "replace_whole",
]


def replace_whole(dest: Path, write: Callable[[Path], object]) -> Path:
    """Has ``write`` write the file's content to a temporary path beside ``dest`` (hidden,
    named by this process), syncs it, renames it to ``dest`` and syncs the directory: the
    bytes reach the disk before the rename does, which reaches it before this returns.
    Renamed unsynced, a power cut could leave the name on an empty or torn file. On any
    failure the temporary file is removed and ``dest`` is as it was. Returns ``dest``."""
    replace_all_whole([dest], lambda staged: write(staged[dest]))
    return dest


def replace_all_whole(dests: Sequence[Path], write: Callable[[Mapping[Path, Path]], object]) -> None:
    """``replace_whole`` for several files, all or none: ``write`` writes each of ``dests`` to
    the temporary path it is given for it, and only once every one is written and synced does
    each take its name (a run's report: a Ctrl-C while one is drawn would leave the others of
    another run beside it). On any failure every temporary file is removed and ``dests``
    are as they were."""
    staged = {dest: dest.with_name(f".{dest.name}.tmp{os.getpid()}") for dest in dests}
    try:
        write(staged)
        for tmp in staged.values():
            _sync(tmp)
        for dest, tmp in staged.items():
            os.replace(tmp, dest)
    except BaseException:
        for tmp in staged.values():
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise
    for parent in dict.fromkeys(dest.parent for dest in dests):
        _sync(parent)


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class NotRegularFile(Exception):
    """A name that is no regular file, so none of the files dita reads whole (a state file, a
    config file); ``kind`` says what it is (``a FIFO``, ``a character device``, ``a
    directory``)."""

    def __init__(self, path: Path, mode: int) -> None:
        kinds = (
            (stat.S_ISFIFO, "a FIFO"),
            (stat.S_ISCHR, "a character device"),
            (stat.S_ISBLK, "a block device"),
            (stat.S_ISDIR, "a directory"),
        )
        self.kind = next((kind for test, kind in kinds if test(mode)), "a special file")
        super().__init__(f"{path} is {self.kind}, not a regular file")


class TooLarge(Exception):
    """A file over the size it may have to be read (``regular_file_bytes``' limit): ``size``,
    what the file said it held, or None when it grew past the limit as it was read."""

    def __init__(self, path: Path, limit: int, size: int | None) -> None:
        self.limit = limit
        self.size = size
        if size is None:
            super().__init__(f"{path}: grew past {limit:,} bytes as it was read")
        else:
            super().__init__(f"{path}: {size:,} bytes, over {limit:,}")


class PipeNotFinished(Exception):
    """A FIFO or pipe read whole (``regular_file_bytes(..., pipes=True)``) whose writer did not
    close it within ``PIPE_WAIT_S`` (nobody opened it to write, or the writer hangs)."""

    def __init__(self, path: Path, wait: float) -> None:
        self.wait = wait
        super().__init__(f"{path}: a FIFO whose writer did not finish within {wait:g}s")


# How much of a file is read at a time under a limit.
_CHUNK = 1 << 20

PIPE_WAIT_S = 30.0
"""How long a FIFO or pipe read whole may take to be written and closed: a command's output
through ``<(...)`` is there at once, and one nobody writes to is not waited on for ever."""


def regular_file_bytes(path: Path, limit: int | None = None, *, pipes: bool = False) -> bytes:
    """The bytes of the regular file ``path`` (a state file, a config file): all of them, or
    with ``limit`` at most that many, read a chunk at a time (one ``read(limit + 1)`` would take
    that much memory at once, whatever the file holds). Raises TooLarge when the file says it holds
    more or gives more (it may grow while read), and NotRegularFile, reading nothing, for what
    is not a regular file (a FIFO, whose open would wait for a writer forever; a device, such as
    a link to /dev/zero, read until memory runs out); the OSError of a file that cannot be opened
    or read passes. With ``pipes``, a FIFO or pipe (``--config <(...)``) is read once, to its
    writer's end, under the same limit, and PipeNotFinished raised when that takes over
    ``PIPE_WAIT_S``."""
    # Non-blocking: a FIFO opens at once, whether or not anyone writes to it; a regular file
    # ignores the flag.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        said = os.fstat(fd)
        if pipes and stat.S_ISFIFO(said.st_mode):
            return _pipe_bytes(fd, path, limit)
        if not stat.S_ISREG(said.st_mode):
            raise NotRegularFile(path, said.st_mode)
        if limit is not None and said.st_size > limit:
            raise TooLarge(path, limit, said.st_size)
        # fd is closed below, once, whatever fails (wrapped with closefd, a directory would leak it).
        with open(fd, "rb", closefd=False) as f:
            if limit is None:
                return f.read()
            data = bytearray()
            while chunk := f.read(min(_CHUNK, limit + 1 - len(data))):
                data += chunk
                if len(data) > limit:
                    raise TooLarge(path, limit, None)
            return bytes(data)
    finally:
        os.close(fd)


def _pipe_bytes(fd: int, path: Path, limit: int | None) -> bytes:
    """What the writer of the FIFO or pipe ``fd`` (opened non-blocking) writes until it closes
    it, at most ``limit`` bytes, within ``PIPE_WAIT_S``."""
    wait = PIPE_WAIT_S
    deadline = time.monotonic() + wait
    data = bytearray()
    hung_up = False
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while True:
        want = _CHUNK if limit is None else min(_CHUNK, limit + 1 - len(data))
        try:
            chunk: bytes | None = os.read(fd, want)
        except BlockingIOError:
            chunk = None  # a writer holds it open and has written nothing more yet
        if chunk:
            data += chunk
            if limit is not None and len(data) > limit:
                raise TooLarge(path, limit, None)
            continue
        # End of file once a writer has written and closed it. Nothing read yet: a FIFO that no
        # writer has opened reads as ended too, so wait for one, or for one to close it empty.
        if chunk == b"" and (data or hung_up):
            return bytes(data)
        left = deadline - time.monotonic()
        if left <= 0:
            raise PipeNotFinished(path, wait)
        events = poller.poll(left * 1000)
        hung_up = any(event & select.POLLHUP for _, event in events)


CONFIG_FILE_BYTES = 1 << 20
"""The most a config file may hold (``dita serve``'s and ``dita live``'s): a data dump named by
mistake is refused by its size, not read into memory."""


def config_file_text(path: Path) -> str:
    """The text of the config file ``path``, a regular file or a FIFO or pipe read once to its
    end (``--config <(...)``). A ValueError, naming its size and the cap, for one over
    ``CONFIG_FILE_BYTES``, naming what it is for a device or a directory (read whole, a link to
    /dev/zero would take every byte of memory), and for a FIFO whose writer does not finish within
    ``PIPE_WAIT_S`` (none may ever come). The OSError of a file that cannot be opened or read
    passes."""
    try:
        data = regular_file_bytes(path, CONFIG_FILE_BYTES, pipes=True)
    except TooLarge as exc:
        held = f"{exc.size:,} bytes, over" if exc.size is not None else "grew as it was read past"
        raise ValueError(f"{held} the {CONFIG_FILE_BYTES:,} bytes a config file may hold") from None
    except PipeNotFinished as exc:
        raise ValueError(f"a FIFO whose writer did not finish within {exc.wait:g}s") from None
    except NotRegularFile as exc:
        raise ValueError(f"{exc.kind}, not a regular file") from None
    return data.decode("utf-8")  # as tomllib.load decodes it: a UnicodeDecodeError is a ValueError


_Text = TypeVar("_Text", str, bytes)


class NestedTooDeeply(ValueError):
    """A JSON or TOML document nested deeper than its parser's recursion can follow (json and
    tomllib raise RecursionError): a ValueError, as the document's other flaws are."""

    def __init__(self) -> None:
        super().__init__("nested too deeply")


def parsed(parse: Callable[[_Text], Any], text: _Text) -> Any:
    """``parse(text)`` (``json.loads``, ``tomllib.loads``), a RecursionError raised as
    NestedTooDeeply: a reader catching ValueError reports it as it does a document it cannot
    parse, naming the file, where the RecursionError would end the command in a traceback."""
    try:
        return parse(text)
    except RecursionError:
        raise NestedTooDeeply from None


class GivenTwice(ValueError):
    """A JSON object gives ``key`` twice, ``first`` then ``then`` (``one_value_each``); ``path``
    is where that object lies in the document, its keys and list indexes from the top (empty:
    the top, or not known)."""

    def __init__(self, key: str, first: Any, then: Any, path: tuple[str | int, ...] = ()) -> None:
        super().__init__(f"{key!r} is given more than once ({first!r}, then {then!r})")
        self.key, self.first, self.then, self.path = key, first, then, path


def one_value_each(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads``'s ``object_pairs_hook`` for files and client input (the gateway's stdio
    lines and HTTP bodies) alike: json.loads keeps the last of two equal keys, so a weight, a
    limit or an order's "side" written twice would be taken as the second without a word. Raises
    ``GivenTwice``, at any depth."""
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise GivenTwice(key, obj[key], value)
        obj[key] = value
    return obj


def loads_one_value_each(text: str, parse_float: Callable[[str], Any] | None = None) -> Any:
    """``json.loads(text)`` refusing a key given twice (``one_value_each``), the ``GivenTwice``
    naming the path of its object: a key twice inside ``metadata`` is not the top's own key."""
    try:
        return json.loads(text, object_pairs_hook=one_value_each, parse_float=parse_float)
    except GivenTwice as exc:
        # Read again only on this refusal: the hook sees one object, not where it lies.
        tree = json.loads(text, object_pairs_hook=_Pairs, parse_float=parse_float)
        raise GivenTwice(exc.key, exc.first, exc.then, _first_given_twice(tree)) from None


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as its pairs in order, two equal keys kept (``loads_one_value_each``)."""


def _first_given_twice(tree: Any) -> tuple[str | int, ...]:
    """The path of the first object ``json.loads`` finishes that gives a key twice: objects
    finish inner first, then in order, so the walk checks an object after its values."""
    stack: list[tuple[Any, tuple[str | int, ...], bool]] = [(tree, (), False)]
    while stack:  # not recursive: the document may nest as deep as json.loads reads
        node, path, values_checked = stack.pop()
        if isinstance(node, _Pairs):
            if values_checked:
                keys = [key for key, _ in node]
                if len(set(keys)) < len(keys):
                    return path
                continue
            stack.append((node, path, True))
            stack.extend((value, (*path, key), False) for key, value in reversed(node))
        elif isinstance(node, list):
            stack.extend((value, (*path, i), False) for i, value in reversed(list(enumerate(node))))
    return ()
