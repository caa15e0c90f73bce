"""A real Hazelcast member for development and tests.

The member jars (``hazelcast`` and ``hazelcast-sql``, which holds the SQL engine since 5.0)
are fetched from Maven Central with the machine's ``mvn`` into a cache directory, and the
member runs with the machine's ``java``, bound to 127.0.0.1, with Jet enabled so SQL
mappings work. Each member keeps its config, log and pid file in a state directory, so
``start``, ``stop`` and ``status`` also work from separate processes (the CLI).

Usage: ``python -m dita.services.hazelcast fetch|start|stop|status [--port N]`` or
``dita services hazelcast ...``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dita._hazelcast_client import DEFAULT_CLUSTER_NAME, connect_client, default_cluster_name, shutdown_client
from dita.services import pid_alive

__all__ = [
    "DEFAULT_CLUSTER_NAME",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "HAZELCAST_VERSION",
    "HazelcastMember",
    "ServiceError",
    "client_can_connect",
    "default_cluster_name",
    "default_home",
    "fetch_jars",
    "free_port",
    "is_member_process",
    "jar_paths",
    "main",
]

HAZELCAST_VERSION = "5.5.0"
MEMBER_ARTIFACTS = ("hazelcast", "hazelcast-sql")
# The JVM the member jars are compiled for (class file version 61).
MIN_JAVA = 17
# Size and SHA-256 of the member jars as published (their SHA-1 match Maven Central's), so a
# download or copy cut short is found here, not as a Java stack trace or a member without SQL.
_KNOWN_JARS: dict[str, tuple[int, str]] = {
    "hazelcast-5.5.0.jar": (16730818, "cf560b40b988526e780e4fae12cb6fe01c5158bb9e00839882857f32b544a19e"),
    "hazelcast-sql-5.5.0.jar": (
        23669933,
        "5e091414c6107c46dd692625c532877e094a97c6ce0c71bc43139cd3312d1e96",
    ),
}


DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5701
MAIN_CLASS = "com.hazelcast.core.server.HazelcastMemberStarter"

# Hazelcast reads JDK internals for performance and warns loudly without these.
_JVM_MODULE_FLAGS = (
    "--add-modules",
    "java.se",
    "--add-exports",
    "java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens",
    "java.base/java.lang=ALL-UNNAMED",
    "--add-opens",
    "java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens",
    "java.management/sun.management=ALL-UNNAMED",
    "--add-opens",
    "jdk.management/com.sun.management.internal=ALL-UNNAMED",
)
_CLUSTER_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class ServiceError(RuntimeError):
    """A local service could not be fetched, started or stopped; the message says why."""


def _project_root() -> Path | None:
    for parent in Path(__file__).resolve().parents:
        if (parent / "pyproject.toml").is_file() and (parent / "python" / "dita").is_dir():
            return parent
    return None


def default_home() -> Path:
    """Where jars and member state live: $DITA_HAZELCAST_HOME, else <checkout>/.cache/hazelcast."""
    env = os.environ.get("DITA_HAZELCAST_HOME")
    if env:
        return Path(env)
    root = _project_root()
    if root is not None:
        return root / ".cache" / "hazelcast"
    return Path.home() / ".cache" / "dita" / "hazelcast"


def jar_paths(home: Path | None = None, version: str = HAZELCAST_VERSION) -> list[Path]:
    base = home or default_home()
    return [base / "jars" / f"{artifact}-{version}.jar" for artifact in MEMBER_ARTIFACTS]


# (path, size, mtime) of the jars checked whole in this process: each is hashed once.
_verified_jars: set[tuple[str, int, int]] = set()


def _jar_stamp(jar: Path) -> tuple[str, int, int]:
    st = jar.stat()
    return (str(jar), st.st_size, st.st_mtime_ns)


def _jar_problem(jar: Path) -> str | None:
    """Why ``jar`` is not a whole copy of the published jar, or None when it is. Jars of a
    version without a pinned checksum are only checked to be readable archives."""
    try:
        stamp = _jar_stamp(jar)
    except OSError as exc:
        return str(exc)
    if stamp in _verified_jars:
        return None
    known = _KNOWN_JARS.get(jar.name)
    if known is not None:
        size, sha256 = known
        if stamp[1] != size:
            return f"{stamp[1]} bytes, expected {size}"
        digest = hashlib.sha256()
        with jar.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        if digest.hexdigest() != sha256:
            return f"SHA-256 {digest.hexdigest()}, expected {sha256}"
    else:
        try:
            with zipfile.ZipFile(jar) as archive:
                if not archive.namelist():
                    return "an empty archive"
        except (zipfile.BadZipFile, OSError) as exc:
            return f"not a readable jar: {exc}"
    _verified_jars.add(stamp)
    return None


MVN_TIMEOUT_S = 900
"""The longest ``fetch_jars`` waits for Maven to fetch one jar."""


def fetch_jars(home: Path | None = None, version: str = HAZELCAST_VERSION) -> list[Path]:
    """Fetch the member jars with Maven unless they are cached already; return their paths.

    A cached jar that is not whole (a download or copy cut short) is fetched again."""
    jars = jar_paths(home, version)
    damaged = {jar: problem for jar in jars if jar.is_file() and (problem := _jar_problem(jar))}
    missing = [jar for jar in jars if jar in damaged or not jar.is_file()]
    if not missing:
        return jars
    mvn = shutil.which("mvn")
    if mvn is None:
        if damaged:
            listed = "; ".join(f"{jar} is damaged ({problem})" for jar, problem in damaged.items())
            raise ServiceError(
                f"{listed}; Maven (mvn) is not on PATH to fetch it again: install Maven, "
                "or delete the file and copy in a good one"
            )
        raise ServiceError("Maven (mvn) is not on PATH; it is needed once to fetch the Hazelcast jars")
    jar_dir = jars[0].parent
    jar_dir.mkdir(parents=True, exist_ok=True)
    for jar in missing:
        artifact = jar.name.removesuffix(f"-{version}.jar")
        coords = f"com.hazelcast:{artifact}:{version}:jar"
        # Copy into a scratch dir first so an interrupted download never looks cached.
        with tempfile.TemporaryDirectory(dir=jar_dir) as scratch:
            cmd = [mvn, "-q", "-B", "dependency:copy", f"-Dartifact={coords}", f"-DoutputDirectory={scratch}"]
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=MVN_TIMEOUT_S, check=False)
            except subprocess.TimeoutExpired:
                # A download that stalled (a network gone quiet): one line, not a traceback.
                raise ServiceError(
                    f"mvn did not fetch {coords} within {MVN_TIMEOUT_S} s: check the network (or "
                    "Maven's proxy settings) and fetch again"
                ) from None
            fetched = Path(scratch) / jar.name
            if done.returncode != 0 or not fetched.is_file():
                tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
                raise ServiceError(
                    f"mvn could not fetch {coords} (exit {done.returncode}):\n" + "\n".join(tail)
                )
            problem = _jar_problem(fetched)
            if problem is not None:
                # mvn copies from its local repository, which keeps a damaged download.
                raise ServiceError(
                    f"mvn fetched a damaged {jar.name} ({problem}): delete Maven's copy "
                    f"(by default ~/.m2/repository/com/hazelcast/{artifact}/{version}) and fetch again"
                )
            fetched.replace(jar)
            _verified_jars.add(_jar_stamp(jar))
    return jars


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port that nothing listens on right now (for tests that start their own members).

    It is drawn at random below the system's ephemeral range: a port the system hands out
    itself could go to an outgoing connection between this answer and the caller's bind."""
    first_ephemeral = _first_ephemeral_port()
    lowest = 10_000 if first_ephemeral > 20_000 else 1_024  # clear of common services' ports
    for _ in range(100):
        port = random.randrange(lowest, first_ephemeral)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise ServiceError(f"no free TCP port on {host} between {lowest} and {first_ephemeral}")


def _first_ephemeral_port() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default, and below the IANA range other systems use


def _port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def client_can_connect(address: str, cluster_name: str, timeout: float = 5.0) -> bool:
    """True when a Hazelcast client can join ``cluster_name`` at ``address`` within ``timeout``
    (also when something on that port accepts connections and never answers: False then)."""
    try:
        client = connect_client([address], cluster_name, block=True, connect_timeout=timeout)
    except Exception:
        return False
    shutdown_client(client)
    return True


_java_majors: dict[str, int | None] = {}


def _java_major(java: str) -> int | None:
    """The major version of ``java`` (8 for 1.8), or None when ``java -version`` does not say."""
    if java not in _java_majors:
        major = None
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60, check=False)
            found = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
            if found:
                major = int(found[1])
                if major == 1 and found[2]:
                    major = int(found[2])
        _java_majors[java] = major
    return _java_majors[java]


_CONFIG_ARG = "-Dhazelcast.config="


def is_member_process(pid: int, config_file: Path) -> bool:
    """Whether ``pid`` is the member started with ``config_file``. A pid file outlives its member
    (a reboot, a SIGKILL) and the pid may since name another process, another member included."""
    proc = Path(f"/proc/{pid}")
    try:
        # As the paths were given: a home not UTF-8 decoded with replacements would match no path.
        args = [os.fsdecode(arg) for arg in (proc / "cmdline").read_bytes().split(b"\0")]
    except OSError:
        return pid_alive(pid)  # no /proc: trust the pid file
    if MAIN_CLASS not in args:
        return False
    given = next((a.removeprefix(_CONFIG_ARG) for a in args if a.startswith(_CONFIG_ARG)), None)
    if given is None:
        return False
    if not os.path.isabs(given):
        try:  # the member resolves it against its own working directory
            given = os.path.join(os.readlink(proc / "cwd"), given)
        except OSError:
            return False  # another user's process: not one we started
    return os.path.realpath(given) == os.path.realpath(config_file)


# Run beside a member with ``exit_with_parent``: blocks on a pipe whose only writer is the
# starting process, and at EOF (that process stopped the member, or died however it died)
# SIGKILLs the member if it still runs with its config. In its own session, so a signal
# sent to the starter's process group does not take it away before the member.
_WATCHDOG = """
import os, signal, sys
pid, config_arg = int(sys.argv[1]), os.fsencode(sys.argv[2])
sys.stdin.buffer.read()
try:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        ours = config_arg in f.read().split(b"\\0")
except OSError:
    ours = not os.path.isdir("/proc")
if ours:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
"""


@dataclass
class HazelcastMember:
    """One Hazelcast member process on loopback.

    ``peer_ports`` lists the other members of a loopback cluster (TCP/IP join); without it
    the member forms a cluster of one. State (config, log, pid) lives in ``state_dir``,
    by default ``<home>/run/<cluster_name>-<port>``.

    A started member runs in its own session and outlives the process that started it (the
    CLI's does); with ``exit_with_parent`` it is killed when that process exits, however it
    exits (a killed test run leaves no member behind).
    """

    port: int = DEFAULT_PORT
    cluster_name: str = DEFAULT_CLUSTER_NAME
    host: str = DEFAULT_HOST
    peer_ports: Sequence[int] = ()
    home: Path | None = None
    state_dir: Path | None = None
    heap_mb: int = 512
    version: str = HAZELCAST_VERSION
    exit_with_parent: bool = False
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _watchdog: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _watchdog_fd: int | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        for name, value in (
            ("port", self.port),
            *((f"peer_ports[{i}]", p) for i, p in enumerate(self.peer_ports)),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
                raise ValueError(f"{name} must be a TCP port between 1 and 65535, got {value!r}")
        if not isinstance(self.cluster_name, str) or not _CLUSTER_NAME_RE.match(self.cluster_name):
            raise ValueError(
                f"cluster_name must be 1-64 letters, digits, '_', '.' or '-', got {self.cluster_name!r}"
            )
        if isinstance(self.heap_mb, bool) or not isinstance(self.heap_mb, int) or self.heap_mb < 64:
            raise ValueError(f"heap_mb must be an integer of at least 64, got {self.heap_mb!r}")
        self.home = Path(self.home) if self.home is not None else default_home()
        if self.state_dir is None:
            self.state_dir = self.home / "run" / f"{self.cluster_name}-{self.port}"
        self.state_dir = Path(self.state_dir)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid_file(self) -> Path:
        assert self.state_dir is not None
        return self.state_dir / "member.pid"

    @property
    def log_file(self) -> Path:
        assert self.state_dir is not None
        return self.state_dir / "member.log"

    @property
    def config_file(self) -> Path:
        assert self.state_dir is not None
        return self.state_dir / "hazelcast.xml"

    def config_xml(self) -> str:
        members = [self.port, *(p for p in self.peer_ports if p != self.port)]
        member_lines = "\n".join(f"          <member>{self.host}:{p}</member>" for p in members)
        return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by dita.services.hazelcast; rewritten on every start. -->
<hazelcast xmlns="http://www.hazelcast.com/schema/config"
           xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
           xsi:schemaLocation="http://www.hazelcast.com/schema/config
           http://www.hazelcast.com/schema/config/hazelcast-config-5.5.xsd">
  <cluster-name>{self.cluster_name}</cluster-name>
  <properties>
    <property name="hazelcast.phone.home.enabled">false</property>
    <property name="hazelcast.logging.type">jdk</property>
    <property name="hazelcast.health.monitoring.level">OFF</property>
    <!-- SIGTERM migrates partitions away before leaving, so a stopped member loses nothing. -->
    <property name="hazelcast.shutdownhook.policy">GRACEFUL</property>
    <property name="hazelcast.graceful.shutdown.max.wait">30</property>
    <!-- Listen on the interface below alone, not every one: open-source Hazelcast has no
         authentication, and anyone reaching the port could un-halt kernels. -->
    <property name="hazelcast.socket.bind.any">false</property>
  </properties>
  <network>
    <port auto-increment="false">{self.port}</port>
    <interfaces enabled="true">
      <interface>{self.host}</interface>
    </interfaces>
    <join>
      <auto-detection enabled="false"/>
      <multicast enabled="false"/>
      <tcp-ip enabled="true">
        <member-list>
{member_lines}
        </member-list>
      </tcp-ip>
    </join>
  </network>
  <jet enabled="true" resource-upload-enabled="false"/>
  <map name="dita_*">
    <!-- One synchronous backup: a killed member loses no projection or control entry. -->
    <backup-count>1</backup-count>
  </map>
</hazelcast>
"""

    def pid(self) -> int | None:
        """The member's pid when it is running, else None."""
        if self._proc is not None:
            if self._proc.poll() is None:
                # Our own child: alive, even in the instant before it has exec'd java.
                return self._proc.pid
            self._proc = None
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if pid_alive(pid) and is_member_process(pid, self.config_file):
            return pid
        return None

    def is_running(self) -> bool:
        return self.pid() is not None

    def port_open(self) -> bool:
        """Whether something accepts connections on the member's address: this member, or
        another process when it does not run."""
        return _port_open(self.host, self.port)

    def start(self, timeout: float = 120.0) -> int:
        """Start the member (or find it running) and wait until clients can connect; return its pid."""
        pid = self.pid()
        if pid is not None:
            self.wait_ready(timeout)
            return pid
        if self.port_open():
            raise ServiceError(
                f"port {self.port} on {self.host} is already in use by another process; choose another port"
            )
        java = (
            shutil.which("java", path=os.path.join(os.environ["JAVA_HOME"], "bin"))
            if os.environ.get("JAVA_HOME")
            else None
        )
        java = java or shutil.which("java")
        if java is None:
            raise ServiceError(
                f"java is not on PATH (nor in $JAVA_HOME/bin); a JDK {MIN_JAVA}+ runs the member"
            )
        major = _java_major(java)
        if major is not None and major < MIN_JAVA:
            raise ServiceError(
                f"{java} is Java {major}; the member needs Java {MIN_JAVA}+: install a JDK {MIN_JAVA}+ "
                "and put it first on PATH, or point $JAVA_HOME at it"
            )
        jars = fetch_jars(self.home, self.version)
        assert self.state_dir is not None
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(self.config_xml())
        cmd = [
            java,
            f"-Xms{min(128, self.heap_mb)}m",
            f"-Xmx{self.heap_mb}m",
            # One GC thread: the member shares a small machine with the kernels it serves.
            "-XX:+UseSerialGC",
            *_JVM_MODULE_FLAGS,
            f"{_CONFIG_ARG}{self.config_file}",
            "-cp",
            os.pathsep.join(str(j) for j in jars),
            MAIN_CLASS,
        ]
        with self.log_file.open("wb") as log:
            # A new session: the member outlives the CLI that started it and ignores its Ctrl-C.
            self._proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        try:
            if self.exit_with_parent:
                self._start_watchdog(self._proc.pid)
            self.pid_file.write_text(f"{self._proc.pid}\n")
            self.wait_ready(timeout)
        except BaseException:
            # A Ctrl-C too: in its own session, the member launched here would run on unasked.
            self.stop(kill=True)
            raise
        return self._proc.pid

    def _start_watchdog(self, pid: int) -> None:
        self._end_watchdog()
        read_end, write_end = os.pipe()  # both non-inheritable: no other child holds the writer
        try:
            self._watchdog = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _WATCHDOG, str(pid), f"{_CONFIG_ARG}{self.config_file}"],
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except BaseException:
            os.close(write_end)
            raise
        finally:
            os.close(read_end)
        self._watchdog_fd = write_end

    def _end_watchdog(self) -> None:
        """Close the watchdog's pipe (it then kills the member if it still runs) and reap it."""
        if self._watchdog_fd is not None:
            os.close(self._watchdog_fd)
            self._watchdog_fd = None
        if self._watchdog is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._watchdog.wait(timeout=10)
            self._watchdog = None

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Block until a client can join the member's cluster; raise ServiceError if it dies or times out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pid() is None:
                raise ServiceError(
                    f"the Hazelcast member on port {self.port} exited; log tail:\n{self._log_tail()}"
                )
            if _port_open(self.host, self.port):
                remaining = max(1.0, deadline - time.monotonic())
                if client_can_connect(self.address, self.cluster_name, timeout=min(remaining, 10.0)):
                    return
            time.sleep(0.2)
        raise ServiceError(
            f"the Hazelcast member on port {self.port} did not accept clients within {timeout:.0f}s; "
            f"log tail:\n{self._log_tail()}"
        )

    def stop(self, timeout: float = 45.0, *, kill: bool = False) -> bool:
        """Stop the member: SIGTERM (a graceful leave) or, with ``kill``, SIGKILL at once.

        Returns False when no member was running. Escalates to SIGKILL after ``timeout``.
        """
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            self._end_watchdog()
            return False
        os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
        if not self._wait_exit(pid, timeout):
            os.kill(pid, signal.SIGKILL)
            self._wait_exit(pid, 10.0)
        self.pid_file.unlink(missing_ok=True)
        self._proc = None
        self._end_watchdog()
        return True

    def _wait_exit(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.pid == pid:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(timeout=0.1)
                    return True
            elif not pid_alive(pid):
                return True
            else:
                time.sleep(0.1)
        return False

    def status(self, *, check_client: bool = True) -> dict[str, Any]:
        pid = self.pid()
        accepting = False
        if pid is not None and _port_open(self.host, self.port):
            accepting = client_can_connect(self.address, self.cluster_name, 3.0) if check_client else True
        return {
            "running": pid is not None,
            "pid": pid,
            "address": self.address,
            "cluster_name": self.cluster_name,
            "accepting_clients": accepting,
            "version": self.version,
            "state_dir": str(self.state_dir),
            "log": str(self.log_file),
        }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dita.services.hazelcast", description=__doc__)
    parser.add_argument("action", choices=["fetch", "start", "stop", "status"])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument(
        "--cluster-name",
        default=default_cluster_name(),
        help="default: $DITA_HAZELCAST_CLUSTER or dita",
    )
    parser.add_argument(
        "--home",
        type=Path,
        default=None,
        help=(
            "jar cache and state (default: $DITA_HAZELCAST_HOME, else .cache/hazelcast in the dita "
            "checkout, else ~/.cache/dita/hazelcast)"
        ),
    )
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    if not (math.isfinite(args.timeout) and args.timeout > 0):
        parser.error(f"--timeout={args.timeout!r} must be positive and finite")
    try:
        if args.action == "fetch":
            for jar in fetch_jars(args.home):
                print(jar)
            return 0
        member = HazelcastMember(port=args.port, cluster_name=args.cluster_name, home=args.home)
        if args.action == "start":
            pid = member.start(timeout=args.timeout)
            print(f"Hazelcast member {member.address} (cluster {member.cluster_name}) running, pid {pid}")
        elif args.action == "stop":
            stopped = member.stop(timeout=args.timeout)
            print(
                f"stopped the member on {member.address}"
                if stopped
                else f"no member running on {member.address}"
            )
        else:
            status = member.status()
            print(json.dumps(status, indent=2))
            return 0 if status["accepting_clients"] else 3
    except (ServiceError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a home that is a file or cannot be written: as `dita services` says it
        print(f"error: Hazelcast home {args.home or default_home()}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
