"""``dita services``: local services for development and tests (a Hazelcast member)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from dita._signals import sigterm_as_interrupt
from dita.cli._common import (
    PROGRESS_LINE_SECONDS,
    default_state_dir,
    elapsed_report,
    fail,
    given_path,
    require_finite,
    warn,
)

if TYPE_CHECKING:
    from dita.services.hazelcast import HazelcastMember

__all__ = ["register"]

services_app = typer.Typer(help="Run local services for development and tests.", no_args_is_help=True)
hazelcast_app = typer.Typer(
    help="A Hazelcast member on 127.0.0.1 (jars fetched with Maven, run with this machine's java).",
    no_args_is_help=True,
)
services_app.add_typer(hazelcast_app, name="hazelcast")

PortOption = Annotated[int, typer.Option("--port", help="member and client port")]
RecordedPortOption = Annotated[
    int | None,
    typer.Option("--port", help="member and client port (default: the member `start` recorded, else 5701)"),
]
ClusterOption = Annotated[
    str | None,
    typer.Option("--cluster-name", help="Hazelcast cluster name (default: $DITA_HAZELCAST_CLUSTER or dita)"),
]

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="jar cache and member state (default: $DITA_HAZELCAST_HOME, else .cache/hazelcast in the "
        "dita checkout, else ~/.cache/dita/hazelcast)",
        parser=given_path,
    ),
]


def _home_error(home: Path | None, exc: OSError) -> NoReturn:
    """A home that is a file or cannot be written: one line naming the path, not a traceback."""
    fail(f"Hazelcast home {home}: {exc}")


def _member(port: int, cluster_name: str | None, home: Path | None, state_dir: Path | None = None) -> object:
    """The member for these options; the cluster name defaults as for the other commands
    ($DITA_HAZELCAST_CLUSTER, else ``dita``), and a bad variable is named in the refusal."""
    from dita.services.hazelcast import HazelcastMember, default_cluster_name

    source = "--cluster-name"
    if cluster_name is None:
        source = "$DITA_HAZELCAST_CLUSTER"
        cluster_name = default_cluster_name()
    try:
        return HazelcastMember(port=port, cluster_name=cluster_name, home=home, state_dir=state_dir)
    except ValueError as exc:
        # Named as the option the value came from: "port must be ..." named no option.
        option = {"cluster_name": source, "port": "--port"}.get(str(exc).partition(" ")[0])
        fail(f"{option}: {exc}" if option else str(exc))


def _recorded_member(port: int | None, cluster_name: str | None, home: Path | None) -> object:
    """The member of ``stop`` and ``status``: the one ``start`` recorded when --port is not given
    or is its port (its state directory and cluster name; another name given is warned of), said
    on stderr; else the one on --port (default 5701)."""
    from dita.services.hazelcast import DEFAULT_HOST, DEFAULT_PORT
    from dita.services.member_file import member_file, member_gone, read_member_file

    state_dir = default_state_dir()
    try:
        record = read_member_file(state_dir)
    except ValueError as exc:
        warn(f"{exc}: not used")
        record = None
    if record is not None and port is not None and record.address != f"{DEFAULT_HOST}:{port}":
        record = None  # another member's: --port names this one
    gone = member_gone(record) if record is not None else ""
    if record is None or gone:
        if record is not None:
            warn(
                f"{member_file(state_dir)} names the member {record.address}, which is gone ({gone}):"
                " not used"
            )
        return _member(DEFAULT_PORT if port is None else port, cluster_name, home)
    typer.echo(
        f"the member recorded in {member_file(state_dir)}: {record.address}, cluster {record.cluster_name!r}",
        err=True,
    )
    given = cluster_name if cluster_name is not None else os.environ.get("DITA_HAZELCAST_CLUSTER")
    if given is not None and given != record.cluster_name:
        # The member on that port is the recorded one: asked under another name it would read as
        # refusing clients, a healthy member taken for a broken one.
        named = "--cluster-name" if cluster_name is not None else "$DITA_HAZELCAST_CLUSTER"
        warn(
            f"{named} {given!r} is not the cluster of the member recorded on {record.address}, "
            f"{record.cluster_name!r}: acting on that member under its own name"
        )
    cluster_name = record.cluster_name
    recorded_port = int(record.address.rpartition(":")[2])
    # Its own state directory, wherever --home put it when it started.
    return _member(
        recorded_port, cluster_name, home, Path(record.config_file).parent if home is None else None
    )


def _port_held_by_another(member: HazelcastMember) -> str:
    """What to say when ``member`` does not run but something accepts connections on its port
    ("" when nothing does): another cluster name, --home or state directory started a member
    there, or another program listens."""
    if not member.port_open():
        return ""
    return (
        f"{member.address} is held by another process, not the member of cluster "
        f"{member.cluster_name!r} in {member.state_dir}: a member started with another --cluster-name, "
        "--home or state directory, or another program"
    )


@hazelcast_app.command("fetch")
def fetch(home: HomeOption = None) -> None:
    """Fetch the member jars with Maven (once; later calls use the cache)."""
    from dita.services.hazelcast import ServiceError, default_home, fetch_jars

    # SIGTERM ends the fetch as Ctrl-C does (exit 130): Maven is stopped and its scratch directory
    # removed, where killed outright the command would leave both behind.
    restore_sigterm = sigterm_as_interrupt()
    try:
        with elapsed_report(
            "fetching the Hazelcast jars with Maven", enabled=True, line_seconds=PROGRESS_LINE_SECONDS
        ):
            jars = fetch_jars(home)
    except ServiceError as exc:
        fail(str(exc))
    except OSError as exc:
        _home_error(home or default_home(), exc)
    finally:
        restore_sigterm()
    for jar in jars:
        typer.echo(str(jar))


@hazelcast_app.command("start")
def start(
    port: PortOption = 5701,
    cluster_name: ClusterOption = None,
    home: HomeOption = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait until clients can connect")] = 120.0,
) -> None:
    """Start a member (or find it running) and wait until clients can connect."""
    from dita.services.hazelcast import HazelcastMember, ServiceError

    require_finite("--timeout", timeout)
    member = _member(port, cluster_name, home)
    assert isinstance(member, HazelcastMember)
    label = f"starting the Hazelcast member on {member.address}"
    restore_sigterm = sigterm_as_interrupt()  # a member launched but not ready is stopped too
    try:
        with elapsed_report(label, enabled=True, line_seconds=PROGRESS_LINE_SECONDS):
            pid = member.start(timeout=timeout)
    except ServiceError as exc:
        fail(str(exc))
    except OSError as exc:
        _home_error(member.home, exc)
    finally:
        restore_sigterm()
    typer.echo(f"Hazelcast member {member.address} (cluster {member.cluster_name}) running, pid {pid}")
    _tell_where(member, pid)


def _tell_where(member: HazelcastMember, pid: int) -> None:
    """Record where ``member`` listens in the state directory, where the other commands find it
    without options, and print the options that reach it from anywhere else."""
    from dita.services.member_file import write_member_file

    state_dir = default_state_dir()
    try:
        written = write_member_file(state_dir, member, pid)
    except OSError as exc:
        warn(f"cannot record the member in {state_dir}: {exc.strerror or exc}; pass the options below")
    else:
        typer.echo(f"recorded in {written}: the other commands run from here reach it without options")
    address, name = member.address, member.cluster_name
    typer.echo(f"dita control: --cluster {address} --cluster-name {name}")
    typer.echo(f"dita status, orders, pnl and paper: --hazelcast {address} --hz-cluster {name}")
    typer.echo(f"dita serve: --hazelcast {address} with DITA_HAZELCAST_CLUSTER={name}")


@hazelcast_app.command("stop")
def stop(
    port: RecordedPortOption = None,
    cluster_name: ClusterOption = None,
    home: HomeOption = None,
    kill: Annotated[bool, typer.Option("--kill", help="SIGKILL instead of a graceful leave")] = False,
) -> None:
    """Stop the member started with ``start``."""
    from dita.services.hazelcast import HazelcastMember
    from dita.services.member_file import remove_member_file

    member = _recorded_member(port, cluster_name, home)
    assert isinstance(member, HazelcastMember)
    try:
        stopped = member.stop(kill=kill)
    except OSError as exc:
        _home_error(member.home, exc)
    if remove_member_file(default_state_dir(), member):
        typer.echo(f"removed its record in {default_state_dir()}")
    if stopped:
        typer.echo(f"stopped the member on {member.address}")
        return
    held = _port_held_by_another(member)
    if held:
        # Nothing stopped, and something still runs there: not the success "no member" would say.
        fail(f"{held}: nothing stopped", code=1)
    typer.echo(f"no member running on {member.address}")


@hazelcast_app.command("status")
def status(
    port: RecordedPortOption = None, cluster_name: ClusterOption = None, home: HomeOption = None
) -> None:
    """Print the member's state as JSON; exit 3 when clients cannot connect."""
    from dita.services.hazelcast import HazelcastMember

    member = _recorded_member(port, cluster_name, home)
    assert isinstance(member, HazelcastMember)
    state = member.status()
    held = "" if state["running"] else _port_held_by_another(member)
    if held:
        warn(held)
    typer.echo(json.dumps({**state, "port_held_by_another": bool(held)}, indent=2))
    if not state["accepting_clients"]:
        raise typer.Exit(3)


def register(app: typer.Typer) -> None:
    app.add_typer(services_app, name="services")
