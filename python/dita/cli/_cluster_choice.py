"""Which Hazelcast cluster a command talks to, and where each part of that came from.

The members and the cluster name are each taken from the command's option, else the
environment ($DITA_HAZELCAST_MEMBERS, $DITA_HAZELCAST_CLUSTER), else the member file that
`dita services hazelcast start` writes in the state directory, else the defaults
(127.0.0.1:5701, ``dita``). The member file's cluster name is taken only for the address it
names: a name read for another member would send the command to a cluster nobody asked for.
Every command says the result on stderr before it connects (``ClusterChoice.said``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dita._hazelcast_client import DEFAULT_CLUSTER_MEMBERS, DEFAULT_CLUSTER_NAME, cluster_settings

__all__ = ["ClusterChoice", "ClusterChoiceError", "choose_cluster"]

MEMBERS_VARIABLE = "DITA_HAZELCAST_MEMBERS"
NAME_VARIABLE = "DITA_HAZELCAST_CLUSTER"
DEFAULT = "default"


class ClusterChoiceError(ValueError):
    """A cluster setting no client can use; the message names the option, variable or file."""


@dataclass(frozen=True)
class ClusterChoice:
    """The cluster a command talks to: its members and name, each with where it came from."""

    members: tuple[str, ...]
    name: str
    members_from: str
    name_from: str
    # What was found and not used (a member file naming a member that is gone), said as warnings.
    notes: tuple[str, ...] = field(default=())

    def said(self) -> str:
        """The one line a command prints before it connects."""
        return (
            f"Hazelcast cluster {self.name!r} (from {self.name_from}) at {', '.join(self.members)}"
            f" (from {self.members_from})"
        )


def choose_cluster(
    members: str | Sequence[str] | None,
    name: str | None,
    state_dir: Path,
    *,
    members_option: str,
    name_option: str,
) -> ClusterChoice:
    """The cluster for a command given ``members`` and ``name`` (None: not given); raises
    ClusterChoiceError naming the source of a value no client can use."""
    from dita.services.member_file import member_file, member_gone, read_member_file

    notes: list[str] = []
    record = None
    found_at = member_file(state_dir)
    members_given = members is not None or MEMBERS_VARIABLE in os.environ
    if not members_given or (name is None and NAME_VARIABLE not in os.environ):
        try:
            record = read_member_file(state_dir)
        except ValueError as exc:
            notes.append(f"{exc}: not used")
        if record is not None:
            gone = member_gone(record)
            if gone:
                if not members_given:
                    notes.append(
                        f"{found_at} names the Hazelcast member {record.address} of cluster "
                        f"{record.cluster_name!r}, which is gone ({gone}): not used"
                    )
                record = None
    from_file = f"the member file {found_at}"

    raw: str | Sequence[str]
    if members is not None:
        raw, members_from = members, members_option
    elif MEMBERS_VARIABLE in os.environ:
        raw, members_from = os.environ[MEMBERS_VARIABLE], f"${MEMBERS_VARIABLE}"
    elif record is not None:
        raw, members_from = record.address, from_file
    else:
        raw, members_from = DEFAULT_CLUSTER_MEMBERS, DEFAULT
    try:
        addresses, _ = cluster_settings(raw, DEFAULT_CLUSTER_NAME)
    except ValueError as exc:
        said = f"{members_option} {raw!r}" if members is not None else members_from
        raise ClusterChoiceError(f"{said}: {exc}") from None

    if name is not None:
        cluster, name_from = name, name_option
    elif NAME_VARIABLE in os.environ:
        cluster, name_from = os.environ[NAME_VARIABLE], f"${NAME_VARIABLE}"
    elif record is not None and record.address in addresses:
        cluster, name_from = record.cluster_name, from_file
    else:
        cluster, name_from = DEFAULT_CLUSTER_NAME, DEFAULT
    try:
        addresses, cluster = cluster_settings(addresses, cluster)
    except ValueError as exc:
        said = f"{name_option} {cluster!r}" if name is not None else name_from
        raise ClusterChoiceError(f"{said}: {exc}") from None
    return ClusterChoice(addresses, cluster, members_from, name_from, tuple(notes))
