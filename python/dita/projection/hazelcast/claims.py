"""Which projection holds each kernel id: an entry of ``dita_kernel_claims`` per kernel id, taken
with one atomic operation on the member (``put_if_absent``, or ``replace_if_same`` over a
holder taken for gone), renewed with each heartbeat and removed when the kernel leaves.

Two processes projecting one kernel id would overwrite each other's slots, account and control
entries, each believing the maps its own: the second to claim is refused, naming the holder. A
holder is taken for gone, and its claim taken over, as readers take a kernel for gone: its claim
not renewed for ``LIVE_WITHIN_S`` seconds, or its process no longer running on this machine: its
host name, boot id and PID namespace those of this process (another container or a cloned machine
may share the host name while its pids are not this one's to look up)."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from functools import cache
from typing import Any

from dita._hazelcast_client import HazelcastClient, HazelcastJsonValue, Map
from dita.projection.hazelcast.answers import answered_by, map_proxy
from dita.projection.hazelcast.liveness import LIVE_WITHIN_S, projection_age

_log = logging.getLogger("dita.projection.hazelcast")  # one logger for the package, as docs name it

CLAIMS_MAP = "dita_kernel_claims"

# The tokens of the claims projections of this process hold: a claim naming this process whose
# token is not among them was left by an earlier process that had this pid (a container's pid 1).
_held_here: set[str] = set()
_held_lock = threading.Lock()


class KernelIdClaimed(ValueError):
    """Another projection, alive, holds the kernel id (said with who holds it)."""


def claims_map(client: HazelcastClient, timeout: float) -> Map[str, Any]:
    """The proxy of ``dita_kernel_claims``, got on a thread of its own: the client's ``get_map``
    waits for a member's answer the first time without a limit (a member frozen, say)."""
    proxy = map_proxy(client, CLAIMS_MAP, "dita-claims-map-proxy")
    got: Map[str, Any] = answered_by(proxy, time.monotonic() + timeout, f"the proxy of map {CLAIMS_MAP}")
    return got


def new_token() -> str:
    """A token naming one attach of one kernel: a second attach is another holder."""
    return uuid.uuid4().hex


_PID_SPACE = ("boot_id", "pid_ns")


@cache
def _pid_space() -> dict[str, Any]:
    """Where this process's pid names this process: the machine's boot (``boot_id``) and its PID
    namespace (``pid_ns``, the inode of ``/proc/self/ns/pid``), each where the system has it."""
    space: dict[str, Any] = {}
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as boot:
            space["boot_id"] = boot.read().strip()
    except (OSError, ValueError):
        pass
    try:
        space["pid_ns"] = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        pass
    return space


def claim_value(kernel_id: str, token: str, claimed_at: float) -> HazelcastJsonValue:
    """The entry a holder keeps; ``projected_at`` is renewed with its heartbeat."""
    value = {
        "kernel_id": kernel_id,
        "holder": f"{socket.gethostname()} pid {os.getpid()}",
        "host": socket.gethostname(),
        "pid": os.getpid(),
        **_pid_space(),
        "token": token,
        "claimed_at": claimed_at,
        "projected_at": time.time(),
    }
    return HazelcastJsonValue(json.dumps(value, separators=(",", ":")))


def _fields(value: Any) -> dict[str, Any]:
    try:
        fields = json.loads(value.to_string())
    except (AttributeError, TypeError, ValueError):
        return {}
    return fields if isinstance(fields, dict) else {}


def _gone(fields: dict[str, Any]) -> bool:
    """Whether the holder of a claim is taken for gone."""
    age = projection_age(fields)
    if age is None or abs(age) > LIVE_WITHIN_S:
        return True  # not renewed for that long, or no claim of ours (typed by hand)
    pid = fields.get("pid")
    if fields.get("host") != socket.gethostname() or not isinstance(pid, int) or isinstance(pid, bool):
        return False
    # The same host name is no proof of the same pids: a container with the host's network, or
    # a cloned machine. A claim written without them (an older dita) goes by the host name.
    stored = {name: fields[name] for name in _PID_SPACE if name in fields}
    if stored and stored != _pid_space():
        return False
    if pid == os.getpid():
        with _held_lock:
            return fields.get("token") not in _held_here
    if _exited(pid):
        return True  # crashed, not yet reaped by its parent: a zombie answers signal 0 as if alive
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True  # crashed on this machine: a restart takes its id over at once
    except OSError:
        return False  # running under another user
    return False


def _exited(pid: int) -> bool:
    """Whether ``pid`` is a process that has exited and awaits reaping (state Z or X in
    ``/proc/<pid>/stat``); False where ``/proc`` does not say."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as stat:
            # The command name, in parentheses, may hold spaces and ")": the state follows the last.
            state = stat.read().rpartition(")")[2].split(maxsplit=1)[:1]
    except OSError:
        return False
    return state in (["Z"], ["X"])


def claim(claims: Map[str, Any], kernel_id: str, token: str, timeout: float) -> HazelcastJsonValue:
    """Take ``kernel_id`` for the holder ``token`` (its own claim is renewed); the claim kept.
    Raises KernelIdClaimed naming the holder when another one, alive, holds it."""
    claimed_at = time.time()
    deadline = time.monotonic() + timeout
    # Known here before it is written: another attach of this process reading it in between
    # would take it for one an earlier process with this pid left.
    with _held_lock:
        _held_here.add(token)
    try:
        return _claim(claims, kernel_id, token, claimed_at, deadline)
    except KernelIdClaimed:
        forget(token)  # unanswered, it stays known: the claim may be written, and is tried again
        raise


def _claim(
    claims: Map[str, Any], kernel_id: str, token: str, claimed_at: float, deadline: float
) -> HazelcastJsonValue:
    for _ in range(8):  # another claimant winning each time in between: the last refusal stands
        mine = claim_value(kernel_id, token, claimed_at)
        held = answered_by(claims.put_if_absent(kernel_id, mine), deadline, f"the claim of {kernel_id!r}")
        if held is None:
            break
        fields = _fields(held)
        if fields.get("token") != token and not _gone(fields):
            age = projection_age(fields) or 0.0
            raise KernelIdClaimed(
                f"kernel_id {kernel_id!r} is already projected by {fields.get('holder', '?')} (claim "
                f"renewed {max(age, 0.0):.0f}s ago in {CLAIMS_MAP}): two kernels of one id would "
                "overwrite each other's slots, account and control entries; give this kernel another "
                f"id, or close that one (a holder silent for {LIVE_WITHIN_S:g}s is taken for gone)"
            )
        taken = claims.replace_if_same(kernel_id, held, mine)
        if answered_by(taken, deadline, f"the claim of {kernel_id!r}"):
            if fields.get("token") != token:
                _log.warning(
                    "hazelcast projection: kernel %s taken over from %s, taken for gone",
                    kernel_id,
                    fields.get("holder", "an entry of another format"),
                )
            break
    else:
        raise KernelIdClaimed(
            f"kernel_id {kernel_id!r}: its claim in {CLAIMS_MAP} changed under each of 8 tries (other "
            "kernels of that id attaching at once?)"
        )
    return mine


def renewed(value: HazelcastJsonValue) -> HazelcastJsonValue:
    """``value`` with its ``projected_at`` now."""
    fields = _fields(value)
    fields["projected_at"] = time.time()
    return HazelcastJsonValue(json.dumps(fields, separators=(",", ":")))


def forget(token: str) -> None:
    """The holder ``token`` left (its claim removed, or left to grow stale)."""
    with _held_lock:
        _held_here.discard(token)
