"""Reading dita's maps (for the CLI, the control plane, tests and ops scripts): every entry,
several maps at once within a deadline, and values another client wrote with a serializer this
one lacks, skipped or kept as ``Undecodable`` instead of failing the whole read."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from dita._hazelcast_client import (
    Future,
    HazelcastClient,
    HazelcastJsonValue,
    HazelcastSerializationError,
    Map,
)
from dita._text import shortened

_log = logging.getLogger("dita.projection.hazelcast")  # one logger for the package, as docs name it


def read_map(
    client: HazelcastClient, map_name: str, warn: Callable[[str], None] | None = None
) -> dict[str, dict[str, Any]]:
    """Every entry of a dita map that is a JSON object, as dita writes them, decoded (for the
    CLI, tests and ops scripts). Another value (typed by hand) is skipped and named to ``warn``
    (default: this module's log): one stray entry must not hide every other kernel."""
    say = warn or _log.warning
    entries_map: Map[Any, Any] = client.get_map(map_name)
    out = {}
    for key, value in entries_decoded(entries_map, say).result():
        decoded = json_object(value)
        if decoded is not None:
            out[str(key)] = decoded
        else:
            say(f"skipped entry {str(key)!r} of {map_name}: not a JSON object ({shown_value(value)})")
    return out


def entries_decoded(
    entries_map: Map[Any, Any], say: Callable[[str], None], *, keep_undecodable: bool = False
) -> Future[list[tuple[Any, Any]]]:
    """The read of every entry of ``entries_map``, as the client's future: each entry whose key and
    value this client can decode; each other one is skipped and named to ``say`` (on the thread
    that completes the read). A value written with a serializer this client lacks (another
    application's, a Java object) fails the client's read of them all: then they are read again,
    each decoded on its own. ``keep_undecodable``: such a value is kept, as ``Undecodable`` (a
    writer replaces it by its raw form), not skipped."""

    def decoded(read: Future[list[tuple[Any, Any]]]) -> Any:
        if isinstance(read.exception(), HazelcastSerializationError):
            return _entries_decoded_one_by_one(entries_map, say, keep_undecodable)
        return read.result()

    return entries_map.entry_set().continue_with(decoded)


@dataclass(frozen=True)
class Undecodable:
    """A map value this client cannot decode (written with another client's serializer), as the
    member holds it: a compare-and-set given ``data`` replaces exactly that value."""

    data: Any  # the client's Data: the serializer's type id and the bytes

    @property
    def type_id(self) -> int:
        type_id: int = self.data.get_type()
        return type_id

    def why(self) -> str:
        """What a message says of it."""
        return f"not a value this client can decode (serializer type id {self.type_id})"


def _tolerant(to_object: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``to_object`` that gives ``Undecodable`` for a value no serializer of this client reads."""

    def decode(data: Any) -> Any:
        if data is None:
            return None
        try:
            return to_object(data)
        except HazelcastSerializationError:
            return Undecodable(data)

    return decode


def _entries_decoded_one_by_one(
    entries_map: Map[Any, Any], say: Callable[[str], None], keep_undecodable: bool = False
) -> Future[list[tuple[Any, Any]]]:
    """``entries_decoded``'s second read: through the client's own request and decoder, which its
    public read offers only for all entries at once (another client version without them: its
    error)."""
    from hazelcast.protocol.codec import map_entry_set_codec

    invoke, to_object = getattr(entries_map, "_invoke", None), getattr(entries_map, "_to_object", None)
    if invoke is None or to_object is None:
        raise HazelcastSerializationError(f"an entry of {entries_map.name} cannot be decoded by this client")
    decode = _tolerant(to_object)

    def each(read: Future[list[tuple[Any, Any]]]) -> list[tuple[Any, Any]]:
        out = []
        for key_data, value_data in read.result():
            key = decode(key_data)
            if isinstance(key, Undecodable):
                say(f"skipped an entry of {entries_map.name}: its key is not one this client can decode")
                continue
            value = decode(value_data)
            if isinstance(value, Undecodable) and not keep_undecodable:
                say(f"skipped entry {shortened(repr(str(key)))} of {entries_map.name}: {value.why()}")
                continue
            out.append((key, value))
        return out

    request = map_entry_set_codec.encode_request(entries_map.name)  # type: ignore[no-untyped-call]
    read: Future[list[tuple[Any, Any]]] = invoke(request, map_entry_set_codec.decode_response)
    return read.continue_with(each)


def get_decoded(entries_map: Map[Any, Any], key: str) -> Future[Any]:
    """``entries_map.get(key)``, with a value this client cannot decode as ``Undecodable`` instead
    of the client's error (another client version without its own request: its ``get``)."""
    return get_held(entries_map, key).continue_with(lambda done: done.result()[0])


def get_held(entries_map: Map[Any, Any], key: str) -> Future[tuple[Any, Any]]:
    """``get_decoded(entries_map, key)`` with the value as the member holds it: the client's Data
    (None for no entry), which a compare-and-set given it matches byte for byte. A value decoded
    and encoded again by this client's rules may not be those bytes (another client's Long comes
    back an int, sent as an INT). Another client version without its own request: its ``get``,
    the value twice."""
    from hazelcast.protocol.codec import map_get_codec
    from hazelcast.util import thread_id

    invoke = getattr(entries_map, "_invoke_on_key", None)
    to_data, to_object = getattr(entries_map, "_to_data", None), getattr(entries_map, "_to_object", None)
    if invoke is None or to_data is None or to_object is None:
        return entries_map.get(key).continue_with(lambda done: (done.result(), done.result()))
    key_data = to_data(key)
    request = map_get_codec.encode_request(entries_map.name, key_data, thread_id())  # type: ignore[no-untyped-call]
    read: Future[Any] = invoke(request, key_data, map_get_codec.decode_response)
    decode = _tolerant(to_object)
    return read.continue_with(lambda done: (decode(done.result()), done.result()))


_LISTENED = {
    "ADDED": "added_func",
    "REMOVED": "removed_func",
    "UPDATED": "updated_func",
    "EVICTED": "evicted_func",
    "EXPIRED": "expired_func",
    "EVICT_ALL": "evict_all_func",
    "CLEAR_ALL": "clear_all_func",
    "MERGED": "merged_func",
    "LOADED": "loaded_func",
}


def add_entry_listener_decoded(entries_map: Map[Any, Any], **funcs: Callable[[Any], None]) -> Future[str]:
    """``entries_map.add_entry_listener(include_value=True, **funcs)``, but an event's key or value
    this client cannot decode comes to ``funcs`` as ``Undecodable``: the client decodes them before
    it calls a listener, and its failure there closed its connection (every kernel of a control
    plane taken for cut off, until it reconnected). Another client version without the request
    this registers: its own listener."""
    from hazelcast.protocol.codec import map_add_entry_listener_codec, map_remove_entry_listener_codec
    from hazelcast.proxy.base import EntryEvent, EntryEventType

    unknown = set(funcs) - set(_LISTENED.values())
    if unknown:
        raise TypeError(f"no such entry event: {sorted(unknown)}")
    register = getattr(entries_map, "_register_listener", None)
    to_object, smart = getattr(entries_map, "_to_object", None), getattr(entries_map, "_is_smart", None)
    if register is None or to_object is None or smart is None:
        return entries_map.add_entry_listener(include_value=True, **funcs)  # type: ignore[arg-type]
    by_type = {getattr(EntryEventType, name): funcs[f] for name, f in _LISTENED.items() if funcs.get(f)}
    flags = 0
    for event_type in by_type:
        flags |= event_type
    decode = _tolerant(to_object)

    def on_event(
        key: Any, value: Any, old_value: Any, merging_value: Any, event_type: int, uuid: Any, affected: int
    ) -> None:
        func = by_type.get(event_type)
        if func is not None:
            parts = (decode(key), decode(value), decode(old_value), decode(merging_value))
            func(EntryEvent(*parts, event_type, uuid, affected))

    codec = map_add_entry_listener_codec
    name = entries_map.name
    request = codec.encode_request(name, True, flags, smart)  # type: ignore[no-untyped-call]
    registered: Future[str] = register(
        request,
        codec.decode_response,
        lambda registration: map_remove_entry_listener_codec.encode_request(name, registration),  # type: ignore[no-untyped-call]
        lambda message: codec.handle(message, on_event),  # type: ignore[no-untyped-call]
    )
    return registered


def read_maps(
    client: HazelcastClient,
    map_names: Sequence[str],
    timeout: float,
    warn: Callable[[str], None] | None = None,
) -> tuple[dict[str, dict[str, dict[str, Any]]], list[str]]:
    """``read_map`` of each of ``map_names``, all at once and given ``timeout`` seconds in all: the
    entries of the maps read, by name, and the names of those whose read was not answered by then,
    in the order given. A read of every entry waits on every member, and one frozen (or with stuck
    partition threads) answers none until the others declare it dead, a minute or more (the map's
    proxy, asked of a member the first time, is waited for without a limit too): so each read runs
    on a thread of its own, left to end in the background, or fail when the client shuts down.
    The entries a read answered in time skipped are named to ``warn`` (default: this module's log)
    in the order of ``map_names``; a read that failed raises its error."""
    names = list(dict.fromkeys(map_names))
    done = threading.Event()
    lock = threading.Lock()
    results: dict[str, tuple[Any, list[str]]] = {}

    def read(name: str) -> None:
        said: list[str] = []
        try:
            outcome: Any = read_map(client, name, said.append)
        except BaseException as exc:  # handed to the caller's thread
            outcome = exc
        with lock:
            results[name] = (outcome, said)
            if len(results) == len(names):
                done.set()

    for name in names:
        threading.Thread(target=read, args=(name,), name=f"dita-read-{name}", daemon=True).start()
    if names:
        done.wait(max(timeout, 0.0))
    with lock:
        answered = dict(results)
    read_entries: dict[str, dict[str, dict[str, Any]]] = {}
    for name in names:
        if name not in answered:
            continue
        outcome, said = answered[name]
        if isinstance(outcome, BaseException):
            raise outcome
        for message in said:
            (warn or _log.warning)(message)
        read_entries[name] = outcome
    return read_entries, [name for name in names if name not in read_entries]


def json_object(value: Any) -> dict[str, Any] | None:
    """A map's value as the JSON object dita writes there (``HazelcastJsonValue`` or its text),
    or None for anything else: other JSON, text that is not JSON, another type."""
    try:
        if isinstance(value, HazelcastJsonValue):
            decoded = value.loads()
        elif isinstance(value, str | bytes):
            decoded = json.loads(value)
        else:
            return None
    except (ValueError, RecursionError):
        return None
    return dict(decoded) if isinstance(decoded, dict) else None


def shown_value(value: Any) -> str:
    """A map's value for a message, cut short: what was found where an object was expected."""
    return shortened(repr(value.to_string() if isinstance(value, HazelcastJsonValue) else value))
