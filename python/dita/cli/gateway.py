"""``dita stdio`` and ``dita serve``: the engine gateway (docs/reference/stdio-protocol.md,
docs/reference/http-api.md)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dita.cli._common import (
    FillRateOption,
    PartialFillRateOption,
    PartialFillRatioOption,
    RateLimitRateOption,
    RejectRateOption,
    VenueSeedOption,
    close_all,
    fail,
    given_path,
    listen_socket,
    mock_venue,
    open_projection,
    option_given,
    require_finite,
    url_authority,
)

if TYPE_CHECKING:
    from dita.gateway.config import GatewaySettings
    from dita.live.config import LiveConfig

__all__ = ["register"]


def _kernel(
    max_slots: int,
    kernel_id: str | None,
    seed_capital: float | None,
    journal: str | None = None,
    hazelcast: str | None = None,
    hazelcast_cluster: str | None = None,
    venue: Any = None,
) -> Any:
    """The gateway's kernel; a setting the kernel, journal or projection refuses exits 2 with
    its message, a Hazelcast cluster it cannot reach 3, and nothing stays open.

    With ``hazelcast`` the kernel also takes its control state from the cluster's control
    plane, so `dita control set --mode HALTED` halts it like every other kernel."""
    from dita.kernel import ExecutionKernel

    # The cluster first: waiting for it holds no journal open.
    proj = (
        open_projection(hazelcast, hazelcast_cluster, cluster_option="hazelcast_cluster")
        if hazelcast is not None
        else None
    )
    jr = kernel = plane = None
    try:
        if proj is not None:
            from dita.control.hazelcast import HazelcastControlPlane

            plane = HazelcastControlPlane(proj.cluster_members, proj.cluster_name, updated_by="dita-serve")
        if journal is not None:
            from dita.journal.clickhouse import ClickHouseJournal

            jr = ClickHouseJournal(journal)
        kernel = ExecutionKernel(
            max_slots=max_slots,
            venue=venue,
            kernel_id=kernel_id,
            journal=jr,
            projection=proj,
            control_plane=plane,
        )
        if seed_capital is not None:
            kernel.set_seed_capital(seed_capital)
    except (ValueError, OSError, RuntimeError) as exc:  # RuntimeError: a chDB directory held
        if kernel is not None:
            kernel.close()
        else:
            close_all(plane, jr, proj)
        fail(f"cannot start the kernel: {exc}")
    return kernel


# One option for both commands. No `min=0`: Typer would refuse nan with its own message, and
# require_finite refuses it, inf and a negative alike.
SeedCapital = Annotated[float | None, typer.Option(help="Seed capital of the K account, zero or more")]


def stdio(
    max_slots: Annotated[int, typer.Option(min=1, help="Trade slots of the kernel")] = 10,
    kernel_id: Annotated[str | None, typer.Option(help="Kernel id (default: generated)")] = None,
    seed_capital: SeedCapital = None,
    fill_rate: FillRateOption = 1.0,
    reject_rate: RejectRateOption = 0.0,
    partial_fill_rate: PartialFillRateOption = 0.0,
    partial_fill_ratio: PartialFillRatioOption = None,
    rate_limit_rate: RateLimitRateOption = 0.0,
    venue_seed: VenueSeedOption = 0,
) -> None:
    """Drive a kernel over stdin/stdout: commands in, NDJSON events out, until EOF (or Ctrl-C, SIGTERM).

    The venue is the seeded mock: by default it acknowledges and fills every order at once.
    --fill-rate, --reject-rate, --partial-fill-rate and --rate-limit-rate make it leave
    orders resting, reject them, fill part of them or rate-limit them (docs/reference/stdio-protocol.md).
    """
    from dita._signals import sigterm_as_interrupt
    from dita.gateway.stdio import run_stdio

    if seed_capital is not None:
        require_finite("--seed-capital", seed_capital, allow_zero=True)
    venue = mock_venue(
        fill_rate=fill_rate,
        reject_rate=reject_rate,
        partial_fill_rate=partial_fill_rate,
        partial_fill_ratio=partial_fill_ratio,
        rate_limit_rate=rate_limit_rate,
        seed=venue_seed,
    )
    for name, stream in (("stdin", sys.stdin), ("stdout", sys.stdout)):
        if stream is None:  # started with the descriptor closed (`dita stdio >&-`): said, not a traceback
            fail(
                f"{name} is closed: dita stdio reads its commands from stdin and writes its events to stdout"
            )
    kernel = _kernel(max_slots, kernel_id, seed_capital, venue=venue)
    # A supervisor stops the engine with SIGTERM: the session closes as at EOF, not cut off.
    restore_sigterm = sigterm_as_interrupt()
    try:
        # Unbuffered: a buffered stdin's first read cannot wait for a signal as well.
        code = run_stdio(kernel, getattr(sys.stdin.buffer, "raw", sys.stdin.buffer), sys.stdout.buffer)
    finally:
        try:
            kernel.close()
        finally:
            restore_sigterm()
    raise typer.Exit(code)


def serve(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option(help=r"TOML file with a \[gateway] table", parser=given_path)
    ] = None,
    host: Annotated[str | None, typer.Option(help="Listen address (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(min=0, max=65535, help="Listen port (default 8080)")] = None,
    max_slots: Annotated[int | None, typer.Option(min=1, help="Trade slots of the kernel")] = None,
    kernel_id: Annotated[str | None, typer.Option(help="Kernel id (default: generated)")] = None,
    seed_capital: SeedCapital = None,
    journal: Annotated[str | None, typer.Option(help="Journal DSN (chdb://DIR or http://...)")] = None,
    hazelcast: Annotated[
        str | None, typer.Option(help="Project into Hazelcast members host:port,...")
    ] = None,
    openapi_out: Annotated[
        Path | None,
        typer.Option(
            help="Write the OpenAPI schema to this file and exit (see docs/openapi.json)", parser=given_path
        ),
    ] = None,
    fill_rate: FillRateOption = 1.0,
    reject_rate: RejectRateOption = 0.0,
    partial_fill_rate: PartialFillRateOption = 0.0,
    partial_fill_ratio: PartialFillRatioOption = None,
    rate_limit_rate: RateLimitRateOption = 0.0,
    venue_seed: VenueSeedOption = 0,
    live: Annotated[
        bool, typer.Option("--live", help='With a run\'s --config: allow mode = "live" to send real orders')
    ] = False,
) -> None:
    r"""Serve the HTTP API, the SSE stream and the operator page over one kernel.

    The venue is the seeded mock, as for `dita stdio`: it fills every order at once unless
    --fill-rate, --reject-rate, --partial-fill-rate or --rate-limit-rate say otherwise.
    A --config file that configures a run (\[venue], \[\[strategies]]: `dita live`) is hosted as
    `dita live` runs it: its strategies, venue and gateway, with the file's settings alone (any
    other option, and a DITA_GATEWAY_* variable the file does not name, is refused).

    The bearer token comes from the config file or DITA_GATEWAY_TOKEN; without one a random
    token is made and printed on stderr.
    """
    import json

    from dita._files import config_file_text
    from dita.gateway.config import SettingsError, load_settings
    from dita.live.config import configures_a_run

    # Read once: a pipe (`--config <(...)`) gives its text to the first reader only.
    text = None
    if config is not None:
        try:
            text = config_file_text(config)
        except OSError as exc:
            fail(f"--config {config}: {exc.strerror or exc}")
        except ValueError as exc:
            fail(f"--config {config}: {exc}")
        if configures_a_run(text):
            from dita.cli.live import checked_config, run_configured

            run = checked_config(config, live, text)
            _refuse_gateway_settings(ctx, config, run)
            run_configured(config, run, program="dita serve")
            return

    if seed_capital is not None:
        require_finite("--seed-capital", seed_capital, allow_zero=True)
    venue = mock_venue(
        fill_rate=fill_rate,
        reject_rate=reject_rate,
        partial_fill_rate=partial_fill_rate,
        partial_fill_ratio=partial_fill_ratio,
        rate_limit_rate=rate_limit_rate,
        seed=venue_seed,
    )
    try:
        settings = load_settings(
            config,
            text=text,
            host=host,
            port=port,
            max_slots=max_slots,
            kernel_id=kernel_id,
            seed_capital=seed_capital,
            journal=journal,
            hazelcast=hazelcast,
        )
    except SettingsError as exc:
        for problem in exc.problems:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(2) from None
    except ValueError as exc:  # the file read above: not TOML, [gateway] not a table
        fail(f"--config {config}: {exc}")
    # The web framework only once the options are good: a refused option answers at once.
    from dita.gateway.app import create_app

    if openapi_out is not None:
        # The schema does not depend on the kernel: no journal or projection is opened for it.
        app = create_app(_kernel(1, None, None), settings)
        try:
            openapi_out.write_text(json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n")
        except OSError as exc:
            fail(f"--openapi-out {openapi_out}: cannot write the schema: {exc.strerror or exc}")
        typer.echo(f"wrote {openapi_out}")
        return
    # The address first: a gateway that cannot listen opens no kernel, journal or cluster.
    sock = listen_socket(settings.host, settings.port)
    try:
        kernel = _kernel(
            settings.max_slots,
            settings.kernel_id,
            settings.seed_capital,
            settings.journal,
            settings.hazelcast,
            settings.hazelcast_cluster,
            venue,
        )
    except BaseException:
        sock.close()
        raise
    app = create_app(kernel, settings)
    if settings.token is None:
        typer.echo(f"no token configured; this session's bearer token: {app.state.token}", err=True)
    typer.echo(
        f"dita gateway for kernel {kernel.kernel_id} on "
        f"http://{url_authority(settings.host, sock.getsockname()[1])}/",
        err=True,
    )
    _run(app, kernel, settings, sock)


# What a run's file holds in place of an option or a DITA_GATEWAY_* variable of `dita serve`.
_IN_THE_RUN_FILE = {
    "host": "give it there as [gateway] host",
    "port": "give it there as [gateway] port",
    "token": "name the variable holding it as [gateway] token_env",
    "max_slots": "give it there as max_slots",
    "kernel_id": "give it there as kernel_id",
    "journal": "give it there as [journal] dsn",
    "hazelcast": 'give it there as [projection] kind = "hazelcast" and members',
    "hazelcast_cluster": "give it there as [projection] cluster",
    "seed_capital": "a run has no seed capital ([paper] balance is a paper run's cash)",
    "openapi_out": "without the run's file, dita serve --openapi-out FILE writes the schema",
}
_VENUE_OPTIONS = frozenset(
    ("fill_rate", "reject_rate", "partial_fill_rate", "partial_fill_ratio", "rate_limit_rate", "venue_seed")
)


def _refuse_gateway_settings(ctx: typer.Context, path: Path, run: LiveConfig) -> None:
    """Exit 2 naming each option given besides --config and --live, and each DITA_GATEWAY_*
    variable set that the run's file does not name: the run takes its settings from its file
    alone, and one dropped without a word (--hazelcast: the cluster whose HALT stops it) would
    leave the run unlike what the command asked for."""
    from dita.gateway.config import ENV_PREFIX

    given = [
        (param.opts[0], param.name)
        for param in ctx.command.params
        if param.name not in (None, "config", "live") and option_given(ctx, param.name)
    ]
    named = {run.gateway.token_env, run.venue.api_key_env, run.venue.secret_env}
    given += [
        (variable, variable.removeprefix(ENV_PREFIX).lower())
        for variable in sorted(os.environ)
        if variable.startswith(ENV_PREFIX) and variable not in named
    ]
    if not given:
        return
    for source, name in given:
        instead = (
            "a run trades on its file's [venue]"
            if name in _VENUE_OPTIONS
            else _IN_THE_RUN_FILE.get(name, "a run's gateway has no such setting")
        )
        typer.echo(
            f"error: {source}: not taken: {path} configures a run, whose file holds its settings; {instead}",
            err=True,
        )
    raise typer.Exit(2)


def _run(app: Any, kernel: Any, settings: GatewaySettings, sock: socket.socket) -> None:
    """Serve on ``sock`` until SIGINT or SIGTERM, then close the kernel before the process ends;
    a connection still open ``grace`` seconds into the stop is closed."""
    from dita.gateway.server import GatewayServer

    server = GatewayServer.for_settings(app, kernel, settings)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # the re-raised Ctrl-C, after the shutdown above
        pass
    finally:
        _close_after_stop(server, kernel)
        sock.close()
    if not server.started:
        raise typer.Exit(1)  # the address was bound: a failure of its own, which uvicorn has logged


def _close_after_stop(server: Any, kernel: Any) -> None:
    """Close the kernel once the server stopped (also when its start failed; closing twice is
    harmless), unless the stop gave up on a call holding the kernel's lane: that close is queued
    on the lane behind the call, and a close here would wait 10 s for the call, then raise the
    kernel's busy error as a traceback. The process ends once the call returns and the lane
    closed the kernel (its thread is waited for at exit)."""
    if server.kernel_closed is False:
        from dita._signals import unread_dropped

        with unread_dropped():
            print(
                "dita serve: a venue call holds the kernel; the process ends once it returns and the"
                " kernel is closed after it (if it never returns, kill the process and reconcile on"
                " restart: the log recovers what it holds)",
                file=sys.stderr,
                flush=True,
            )
        return
    kernel.close()


def register(app: typer.Typer) -> None:
    app.command("stdio")(stdio)
    app.command("serve")(serve)
