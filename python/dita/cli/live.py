"""``dita live --config FILE [--live]``: a configured run (``dita.live``) with the HTTP gateway
serving its kernel; ``dita serve --config FILE`` hosts the same run when the file configures one.

Exit codes: 2 for a file that is no run's configuration (each problem one line naming its key),
or mode live without ``--live``; 1 when the run cannot start (the exchange unreachable) or ended
on a failure; 0 after a clean stop (Ctrl-C, SIGTERM), except that with the gateway served a SIGTERM
ends the process by the signal once the run closed, as ``dita serve`` ends. SIGHUP reloads the
[risk] table."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from dita.cli._common import fail, given_path, listen_socket
from dita.live.config import ConfigError, LiveConfig, load_config

__all__ = ["checked_config", "register", "run_configured"]

STOPPING_STRATEGIES = "stopping the strategies"  # the stop's first step

LiveOption = Annotated[
    bool, typer.Option("--live", help='Allow a file with mode = "live" to send real orders')
]


def _say(line: str) -> None:
    from dita._signals import unread_dropped

    with unread_dropped():  # the stop's lines come before the run's last state is saved
        typer.echo(line, err=True)


def _refuse(problems: list[str]) -> NoReturn:
    for problem in problems:
        typer.echo(f"error: {problem}", err=True)
    raise typer.Exit(2)


def checked_config(path: Path, live_allowed: bool, text: str | None = None) -> LiveConfig:
    """The run ``path`` configures (``text``: its text, read already); exits 2 naming each
    problem, or a live run without --live."""
    try:
        config = load_config(path, text=text)
    except ConfigError as exc:
        _refuse([f"{path}: {problem}" for problem in exc.problems])
    if config.mode == "live" and not live_allowed:
        fail(
            f'{path}: mode = "live" sends real orders with the keys in ${config.venue.api_key_env}: '
            'give --live on the command line too (or set mode = "paper" to trade on paper)'
        )
    return config


def run_configured(path: Path, config: LiveConfig, program: str = "dita live") -> None:
    """Run ``config``, what ``path`` configures (``checked_config``), until Ctrl-C or SIGTERM
    (or the run fails); ``program`` names the command in what a signal during the stop is told."""
    from dita._signals import Terminated, sigterm_as_interrupt
    from dita.cli.live_run import RunRefused, mode_line

    _configure_logging(config)
    typer.echo(mode_line(config))  # the first line: which money the run trades
    sock = _listen(config) if config.gateway.enabled else None
    # From here on a SIGHUP asks for a reload, not the end of the process (its default action).
    reload_requested = threading.Event()
    previous_hup = signal.signal(signal.SIGHUP, lambda *_: reload_requested.set())
    # From the build on a SIGTERM stops the run as Ctrl-C does: one while the run is built (the
    # log, the journal, the venue's streams opened) has the build close what it opened.
    restore = sigterm_as_interrupt()
    end_by_sigterm = False
    try:
        try:
            run = _built(config, path, reload_requested)
        except KeyboardInterrupt as exc:  # the build closed what it had opened
            _say("terminated" if isinstance(exc, Terminated) else "interrupted")
            return
        if sock is not None:
            end_by_sigterm = _serve(run, config, sock, program)
        else:
            _wait(run, config, program)
    except RunRefused as exc:  # its start: the run is stopped and closed already
        fail(str(exc), code=1)
    finally:
        _close_socket(sock)
        try:
            restore()
        finally:
            signal.signal(signal.SIGHUP, previous_hup)
    if end_by_sigterm:
        # The process ends by the signal, as `dita serve` ends: its default, which the `dita`
        # program's restore above puts back as ignored.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)
    if run.failure is not None:
        raise typer.Exit(1)


def _say_started(run: Any, config: LiveConfig) -> None:
    typer.echo(f"kernel id: {run.kernel.kernel_id}")
    if run.continued:
        typer.echo(f"continued from the write-ahead log in {config.wal_dir()} (seq {run.recovered_seq:,})")


def _configure_logging(config: LiveConfig) -> None:
    """The file's [logging] table, unless an option or the environment chose already or the
    file has none; the venue's keys and the gateway's token are redacted from every line."""
    from dita.logs import configure_logging, logging_configured, register_secret

    names = [config.venue.api_key_env, config.venue.secret_env, config.gateway.token_env]
    secrets = [os.environ[name] for name in names if name and os.environ.get(name)]
    if logging_configured() or config.logging is None:
        register_secret(*secrets)
        return
    configure_logging(format=config.logging.format, levels=config.logging.levels, secrets=secrets)


def _built(config: LiveConfig, path: Path, reload_requested: threading.Event) -> Any:
    """The run's stack; a problem of the file exits 2, a run that cannot start 1."""
    from dita.cli.live_run import LiveRun, RunRefused

    try:
        return LiveRun(config, path, _say, reload_requested=reload_requested)
    except ConfigError as exc:
        _refuse([f"{path}: {problem}" for problem in exc.problems])
    except RunRefused as exc:
        fail(str(exc), code=1)


def _listen(config: LiveConfig) -> socket.socket:
    return listen_socket(config.gateway.host, config.gateway.port)


def _close_socket(sock: socket.socket | None) -> None:
    if sock is not None:
        sock.close()


def _wait(run: Any, config: LiveConfig, program: str) -> None:
    """A run without a gateway: wait for its end, or Ctrl-C or SIGTERM."""
    from dita._signals import Terminated

    try:
        _say_started(run, config)
        run.start()
        while not run.stop_requested.wait(0.2):
            pass
    except KeyboardInterrupt as exc:
        _say("terminated" if isinstance(exc, Terminated) else "interrupted")
    finally:
        try:
            _stop_strategies(run, program)
        finally:
            _close_whole(run)


def _strategies_stopping(program: str, then: str) -> str:
    """What a signal while the strategies stop is told: the step, its limit, and ``then``."""
    from dita.cli.live_run import STOP_WAIT_S

    return (
        f"{program}: stopping already ({STOPPING_STRATEGIES}); a signal does not cut it short: their"
        f" thread has at most {STOP_WAIT_S:g} s to end (an on_stop, a venue call under way), {then}"
    )


def _stop_strategies(run: Any, program: str) -> None:
    """The strategies' stop (``LiveRun.stop``: within STOP_WAIT_S), not cut short by a signal: the
    feed's close and the run's last state would be skipped. A Ctrl-C is told instead, and from
    here a SIGTERM is ignored (``closing()``)."""
    from dita._signals import closing, unread_dropped

    closing()
    said = _strategies_stopping(program, "then the run closes (the kernel, the venue's streams)")

    def told(signum: int, frame: Any) -> None:
        with unread_dropped():  # os.write: the main thread may be inside a print
            os.write(2, f"{said}\n".encode())

    previous = signal.signal(signal.SIGINT, told)
    try:
        run.stop()
    finally:
        signal.signal(signal.SIGINT, previous)


def _close_whole(run: Any) -> None:
    """The run's close (the kernel, the venue's streams, the orders left working told), whole: a
    Ctrl-C in its middle would leave the streams open and the orders untold. One is kept to its
    end and let go; a second stops it."""
    from dita._signals import held

    closed = False
    try:
        with held():
            run.close()
            closed = True
    except KeyboardInterrupt:
        if not closed:
            raise


def _serve(run: Any, config: LiveConfig, sock: socket.socket, program: str) -> bool:
    """Serve the run's kernel over HTTP until SIGINT or SIGTERM: at once no new request, then
    the strategies stop, then the gateway's own stop. Returns whether the process is to end by
    SIGTERM, as `dita serve` ends: a SIGTERM stopped the run once served."""
    from dita._signals import Terminated, closing

    server: Any = None
    terminated = False
    try:
        _say_started(run, config)
        server = _server(run, config, program)
        host, port = sock.getsockname()[:2]
        _say(f"dita gateway for kernel {run.kernel.kernel_id} on http://{host}:{port}/ (metrics: /metrics)")
        # A SIGTERM while the strategies start (on_start, a continued run's reconciliation) stops
        # the run as Ctrl-C does. While it serves, uvicorn takes the signals, then raises the one
        # it stopped on again through the handlers of sigterm_as_interrupt.
        run.start()
        server.run(sockets=[sock])
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated)
        if server is None or not server.started:
            _say("terminated" if terminated else "interrupted")
    finally:
        try:
            sock.close()
            if server is None or not server.started:
                _stop_strategies(run, program)
            else:
                closing()  # the server's stop ended the strategies
        finally:
            _close_whole(run)  # the kernel once served: the server's stop closed it
    # uvicorn raises the signals it stopped on again newest first: a Ctrl-C after the SIGTERM
    # would hide it.
    return server is not None and server.started and (terminated or server.terminated)


def _server(run: Any, config: LiveConfig, program: str) -> Any:
    """The gateway's server for the run: its stop ends the strategies first."""
    from dita.gateway.app import create_app
    from dita.gateway.config import GatewaySettings
    from dita.gateway.server import GatewayServer

    token = os.environ.get(config.gateway.token_env) if config.gateway.token_env else None
    settings = GatewaySettings(
        host=config.gateway.host, port=config.gateway.port, token=token, kernel_id=config.kernel_id
    )
    app = create_app(run.kernel, settings, dead_man=run.dead_man)
    # The runtime polls the venue and hands its events to the strategies that own the trades:
    # the gateway publishes what the runtime books instead of polling the venue too.
    app.state.polling.follow_runtime(run.runtime)
    if token is None:
        _say(f"no token configured (gateway.token_env); this session's bearer token: {app.state.token}")

    class RunServer(GatewayServer):
        terminated = False  # a SIGTERM among the signals it stopped on

        def handle_exit(self, sig: int, frame: Any) -> None:
            self.terminated = self.terminated or sig == signal.SIGTERM
            super().handle_exit(sig, frame)

        def stopping_already(self) -> str:
            if self.stop_step not in ("", STOPPING_STRATEGIES):
                return super().stopping_already()  # the gateway's own stop: the strategies ended
            return _strategies_stopping(program, f"then the gateway's own stop: {self.own_stop()}")

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # The strategies take up to STOP_WAIT_S to stop: an order the API took meanwhile
            # would go out after the stop began, and be left working.
            self.stop_step = STOPPING_STRATEGIES
            self.stop_taking_requests(sockets)
            await asyncio.to_thread(run.stop)  # no strategy input once the kernel closes
            await super().shutdown(sockets)

    server = RunServer.for_settings(app, run.kernel, settings)
    server.program = program
    run.on_stopped = lambda: setattr(server, "should_exit", True)
    return server


def live(
    config: Annotated[Path, typer.Option(help="The run's TOML file", parser=given_path)],
    live: LiveOption = False,
) -> None:
    r"""Run the strategies a config file names against its venue, with the whole stack.

    The kernel keeps a write-ahead log, a journal (embedded chDB by default) and a projection;
    the HTTP API, the operator page and /metrics serve it. mode = "paper" (the default) fills
    on the paper venue from the exchange's live market data; mode = "live" sends real orders
    and also needs --live. A restart on the same log recovers, reconciles and trades on.
    Ctrl-C or SIGTERM stop cleanly; SIGHUP re-reads the file's \[risk] limits.
    """
    run_configured(config, checked_config(config, live))


def register(app: typer.Typer) -> None:
    app.command("live")(live)
