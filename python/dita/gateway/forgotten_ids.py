"""The client ids of orders `dita stdio` forgot, kept as fingerprints so a reused id is still
refused after its record is gone (docs/reference/stdio-protocol.md)."""

from __future__ import annotations

import hashlib
import math
import sys
from array import array

__all__ = ["ForgottenIds"]

_HASH_IS_64_BITS = sys.hash_info.width >= 64


class ForgottenIds:
    """The client ids of the orders whose records the engine forgot, as 64-bit fingerprints
    (not the record): the newest ``capacity``, the oldest dropped first. Two ids share a
    fingerprint by chance only: with a full memory, a never used id is taken for a used one
    about once in 10**13 orders.

    The fingerprints are kept twice, 8 bytes each: in a ring in the order they came (which
    one to drop next) and in a cuckoo hash table (``_BUCKET`` places a bucket, at most
    ``_LOAD`` full) where each lives in one of two buckets its value names. A lookup reads those
    two buckets, an add writes one and clears the dropped one's place: constant time however
    many ids were forgotten, nothing ever sorted or rebuilt. The table is allocated at the first
    id forgotten, at its full size; the ring grows to ``capacity``. An id the table cannot place
    after ``_KICKS`` moves (never seen; possible in principle) is kept in a set beside it."""

    _BUCKET = 8
    _LOAD = 0.85
    _KICKS = 500

    def __init__(self, capacity: int = 1_000_000) -> None:
        self._capacity = max(1, capacity)
        self._buckets = max(2, math.ceil(self._capacity / (self._LOAD * self._BUCKET)))
        self._table: array[int] | None = None  # 0: an empty place
        self._ring: array[int] = array("Q")  # the fingerprints in the order they came
        self._next = 0  # the ring's oldest, once it is full
        self._stash: set[int] = set()
        self._turn = 0

    @staticmethod
    def _print(client_id: str) -> int:
        # The str's own hash (64-bit SipHash, keyed per process, cached in the str), else a
        # 64-bit BLAKE2b where the build's hash is narrower; 0 marks an empty place in the
        # table: an id of that fingerprint takes 1's.
        if _HASH_IS_64_BITS:
            return (hash(client_id) & 0xFFFF_FFFF_FFFF_FFFF) or 1
        return int.from_bytes(hashlib.blake2b(client_id.encode(), digest_size=8).digest(), "big") or 1

    def _homes(self, key: int) -> tuple[int, int]:
        return (key % self._buckets) * self._BUCKET, ((key >> 32) % self._buckets) * self._BUCKET

    def _has(self, key: int) -> bool:
        table, width, buckets = self._table, self._BUCKET, self._buckets
        if table is None:
            return False
        at = key % buckets * width
        if key in table[at : at + width]:
            return True
        at = (key >> 32) % buckets * width
        return key in table[at : at + width] or (key in self._stash if self._stash else False)

    def _place(self, table: array[int], key: int) -> None:
        width, came = self._BUCKET, -1
        for _ in range(self._KICKS):
            homes = self._homes(key)
            for at in homes:
                bucket = table[at : at + width]
                if 0 in bucket:
                    table[at + bucket.index(0)] = key
                    return
            # Both full: take a place in the bucket the key did not come from (a different
            # place each time) and move the key that held it instead.
            self._turn += 1
            at = homes[1] if homes[0] == came else homes[0] if homes[1] == came else homes[self._turn & 1]
            place = at + self._turn % width
            key, table[place] = table[place], key
            came = at
        self._stash.add(key)

    def _drop(self, table: array[int], key: int) -> None:
        width = self._BUCKET
        for at in self._homes(key):
            bucket = table[at : at + width]
            if key in bucket:
                table[at + bucket.index(key)] = 0
                return
        self._stash.discard(key)

    def add(self, client_id: str) -> None:
        key = self._print(client_id)
        table, width, buckets = self._table, self._BUCKET, self._buckets
        if table is None:
            table = self._table = array("Q", bytes(8 * width * buckets))
        first = key % buckets * width
        in_first = table[first : first + width]
        second = (key >> 32) % buckets * width
        in_second = table[second : second + width]
        if key in in_first or key in in_second or (key in self._stash if self._stash else False):
            return
        ring = self._ring
        if len(ring) < self._capacity:
            ring.append(key)
        else:
            self._drop(table, ring[self._next])
            ring[self._next] = key
            self._next = (self._next + 1) % self._capacity
        # A place the drop emptied is not in the copies read above: _place finds it.
        if 0 in in_first:
            table[first + in_first.index(0)] = key
        elif 0 in in_second:
            table[second + in_second.index(0)] = key
        else:
            self._place(table, key)

    def __contains__(self, client_id: object) -> bool:
        if not isinstance(client_id, str) or self._table is None:
            return False
        return self._has(self._print(client_id))

    def __len__(self) -> int:
        return len(self._ring)
