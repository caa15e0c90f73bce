"""Where the Hazelcast member dita started listens, kept in dita's state directory.

`dita services hazelcast start` writes ``<state dir>/hazelcast/member.json`` (cluster name,
address, pid and config file); the commands that talk to a cluster read it when no option or
variable names one, so a member started on another port or cluster is the one they reach. A
file naming a member that no longer runs is reported by ``member_gone`` and not used.

In a folder of its own: ``dita status`` reads every ``*.json`` at the top of the state
directory as a kernel's state.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from dita._files import replace_whole
from dita.services import pid_alive
from dita.services.hazelcast import HazelcastMember, is_member_process

__all__ = [
    "MEMBER_FILE",
    "MemberRecord",
    "member_file",
    "member_gone",
    "read_member_file",
    "remove_member_file",
    "write_member_file",
]

MEMBER_FILE = Path("hazelcast") / "member.json"
"""The member file's path inside the state directory."""


@dataclass(frozen=True)
class MemberRecord:
    """A member as its file names it."""

    cluster_name: str
    address: str
    pid: int
    config_file: str


def member_file(state_dir: Path) -> Path:
    return state_dir / MEMBER_FILE


def write_member_file(state_dir: Path, member: HazelcastMember, pid: int) -> Path:
    """Record ``member`` (running as ``pid``) as the one the other commands reach; the path."""
    path = member_file(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = MemberRecord(member.cluster_name, member.address, pid, str(member.config_file))
    text = json.dumps(asdict(record), indent=2) + "\n"
    replace_whole(path, lambda staged: staged.write_text(text))
    return path


def read_member_file(state_dir: Path) -> MemberRecord | None:
    """The member the file names; None when there is no file. ValueError naming the file when
    it is not one this module wrote (a hand edit, a torn write)."""
    path = member_file(state_dir)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    try:
        fields = json.loads(text)
        record = MemberRecord(**fields)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path}: not a member file ({exc})") from None
    if not all(isinstance(getattr(record, f), str) for f in ("cluster_name", "address", "config_file")):
        raise ValueError(f"{path}: not a member file (cluster_name, address and config_file must be text)")
    host, _, port = record.address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"{path}: not a member file (address must be host:port, got {record.address!r})")
    if isinstance(record.pid, bool) or not isinstance(record.pid, int):
        raise ValueError(f"{path}: not a member file (pid must be a number, got {record.pid!r})")
    return record


def member_gone(record: MemberRecord) -> str:
    """Why the member ``record`` names no longer runs ("" while it does): its pid is gone, or
    now names another process (a reboot, a kill, the pid given out again)."""
    if not pid_alive(record.pid):
        return f"pid {record.pid} is not running"
    if not is_member_process(record.pid, Path(record.config_file)):
        return f"pid {record.pid} is no longer that member"
    return ""


def remove_member_file(state_dir: Path, member: HazelcastMember) -> bool:
    """Remove the file when it names ``member`` (its stop); whether it did."""
    try:
        record = read_member_file(state_dir)
    except ValueError:
        return False
    if record is None or record.address != member.address or record.cluster_name != member.cluster_name:
        return False
    member_file(state_dir).unlink(missing_ok=True)
    return True
