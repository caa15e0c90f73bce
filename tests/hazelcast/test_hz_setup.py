"""What a developer's machine can get wrong before a member starts: a damaged jar in the cache,
a Java too old. Each is named in one message saying what to do, not left to a Java stack trace.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from dita.services import pid_alive
from dita.services.hazelcast import HAZELCAST_VERSION, HazelcastMember, ServiceError, fetch_jars, free_port


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _home_with(hz_jars: list[Path], tmp_path: Path, truncate: str) -> Path:
    """A jar cache holding the good jars, the one named ``truncate`` cut short (a download or
    copy interrupted)."""
    home = tmp_path / "home"
    (home / "jars").mkdir(parents=True)
    for jar in hz_jars:
        target = home / "jars" / jar.name
        if jar.name == f"{truncate}-{HAZELCAST_VERSION}.jar":
            target.write_bytes(jar.read_bytes()[:100_000])
        else:
            shutil.copy(jar, target)
    return home


def _fake_mvn(bin_dir: Path, source: Path, log: Path) -> None:
    """An ``mvn`` that "fetches" by copying from ``source`` (so no network), logging each call."""
    bin_dir.mkdir(exist_ok=True)
    _script(
        bin_dir / "mvn",
        f"""for a in "$@"; do case "$a" in
  -Dartifact=*) art="${{a#-Dartifact=}}";;
  -DoutputDirectory=*) out="${{a#-DoutputDirectory=}}";;
esac; done
name=$(echo "$art" | cut -d: -f2)-$(echo "$art" | cut -d: -f3).jar
echo "$name" >> '{log}'
cp '{source}'/"$name" "$out/$name"
""",
    )


def test_a_truncated_cached_jar_is_fetched_again(
    hz_jars: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _home_with(hz_jars, tmp_path, truncate="hazelcast")
    log = tmp_path / "mvn.log"
    _fake_mvn(tmp_path / "bin", hz_jars[0].parent, log)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    jars = fetch_jars(home)
    assert log.read_text().split() == [hz_jars[0].name]  # only the damaged one
    assert all(j.read_bytes() == good.read_bytes() for j, good in zip(jars, hz_jars, strict=True))


def test_a_truncated_cached_jar_without_maven_is_named_not_run(
    hz_jars: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _home_with(hz_jars, tmp_path, truncate="hazelcast-sql")
    java = shutil.which("java")
    assert java is not None
    monkeypatch.setenv("JAVA_HOME", str(Path(java).resolve().parent.parent))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no mvn
    member = HazelcastMember(port=free_port(), cluster_name="trunc", home=home)
    try:
        # A cut-short hazelcast-sql jar even starts a member: one without SQL.
        message = r"hazelcast-sql-5\.5\.0\.jar is damaged .*mvn\) is not on PATH"
        with pytest.raises(ServiceError, match=message):
            member.start(timeout=20)
    finally:
        assert not member.stop(kill=True)


def test_maven_handing_over_a_damaged_jar_says_where_to_clean(
    hz_jars: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mvn copies from ~/.m2, which keeps a damaged download: fetching again would give it again."""
    bad_repo = _home_with(hz_jars, tmp_path / "m2", truncate="hazelcast") / "jars"
    _fake_mvn(tmp_path / "bin", bad_repo, tmp_path / "mvn.log")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    home = tmp_path / "fresh"
    m2 = r"\.m2/repository/com/hazelcast/hazelcast/5\.5\.0"
    with pytest.raises(ServiceError, match=rf"mvn fetched a damaged hazelcast-5\.5\.0\.jar.*{m2}"):
        fetch_jars(home)
    assert not (home / "jars" / hz_jars[0].name).exists()  # never left looking cached


@pytest.mark.parametrize(
    ("banner", "found"),
    [
        ('java version "1.8.0_392"', "8"),
        ('openjdk version "11.0.22" 2024-01-16', "11"),
    ],
)
def test_a_java_too_old_is_refused_before_launching(
    banner: str, found: str, hz_jars: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    launched = tmp_path / "launched"
    fake_home = tmp_path / "jdk"
    (fake_home / "bin").mkdir(parents=True)
    _script(
        fake_home / "bin" / "java",
        f"""if [ "$1" = -version ]; then echo '{banner}' >&2; exit 0; fi
touch '{launched}'; echo 'Unrecognized option: --add-modules' >&2; exit 1
""",
    )
    monkeypatch.setenv("JAVA_HOME", str(fake_home))
    member = HazelcastMember(port=free_port(), cluster_name="oldjava", state_dir=tmp_path / "state")
    message = rf"{fake_home}/bin/java is Java {found}; the member needs Java 17\+"
    with pytest.raises(ServiceError, match=message):
        member.start(timeout=20)
    assert not launched.exists()


_HOLDER = """
import sys, time
from pathlib import Path
from dita.services import pid_alive
from dita.services.hazelcast import HazelcastMember
member = HazelcastMember(port=int(sys.argv[1]), cluster_name="held", state_dir=Path(sys.argv[2]),
                         exit_with_parent=True)
print(member.start(), flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_a_member_tied_to_its_starter_dies_when_the_starter_is_killed(
    signum: int, hz_jars: list[Path], tmp_path: Path
) -> None:
    """A test run killed (CI cancelled, a SIGKILL) ran no fixture teardown: its members,
    in their own session, would otherwise run on, holding ports and memory, for good."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(free_port()), str(tmp_path / "state")],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    member_pid = 0
    try:
        assert holder.stdout is not None
        member_pid = int(holder.stdout.readline())
        assert pid_alive(member_pid)
        holder.send_signal(signum)
        holder.wait(10)
        deadline = time.monotonic() + 15
        while pid_alive(member_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not pid_alive(member_pid)
    finally:
        holder.kill()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()
        if member_pid and pid_alive(member_pid):
            os.kill(member_pid, signal.SIGKILL)


def test_the_test_members_are_tied_to_the_test_run(hz_member: HazelcastMember, member_factory: Any) -> None:
    assert hz_member.exit_with_parent
    assert member_factory("tied").exit_with_parent


def test_stopping_a_tied_member_ends_its_watchdog(hz_jars: list[Path], tmp_path: Path) -> None:
    member = HazelcastMember(
        port=free_port(), cluster_name="tied", state_dir=tmp_path / "state", exit_with_parent=True
    )
    member.start()
    watchdog = member._watchdog
    assert watchdog is not None and watchdog.poll() is None
    assert member.stop(kill=True)
    assert watchdog.poll() is not None and member._watchdog is None


def _cli_process(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dita", "services", "hazelcast", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **env},
    )


def _wait_for(path: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while not path.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_fetch_stopped_leaves_no_scratch_dir_nor_maven_running(signum: int, tmp_path: Path) -> None:
    """SIGTERM ended `fetch` at once: its scratch directory stayed in the jar cache and Maven
    ran on, orphaned, downloading into it."""
    started = tmp_path / "mvn.pid"
    (tmp_path / "bin").mkdir()
    _script(tmp_path / "bin" / "mvn", f"echo $$ > '{started}'\nexec sleep 60\n")  # a download that takes long
    home = tmp_path / "home"
    path = f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"
    cli = _cli_process(["fetch", "--home", str(home)], {"PATH": path})
    mvn = 0
    try:
        _wait_for(started, cli)
        time.sleep(0.1)
        mvn = int(started.read_text())
        cli.send_signal(signum)
        _, err = cli.communicate(timeout=20)
        assert cli.returncode == 130, err  # as for Ctrl-C
        assert list((home / "jars").iterdir()) == []
        assert not pid_alive(mvn)
    finally:
        cli.kill()
        cli.communicate()
        if mvn and pid_alive(mvn):
            os.kill(mvn, signal.SIGKILL)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_start_stopped_before_the_member_is_ready_stops_the_member(
    signum: int, hz_jars: list[Path], tmp_path: Path
) -> None:
    """Ctrl-C (or SIGTERM) while `start` waited for the member left the member it launched
    running (in its own session, so the signal never reached it): start abandoned, member up."""
    fake_home = tmp_path / "jdk"
    (fake_home / "bin").mkdir(parents=True)
    # A member that never accepts clients, with a member's command line (what pid() reads).
    _script(
        fake_home / "bin" / "java",
        f"""if [ "$1" = -version ]; then echo 'openjdk version "17.0.9"' >&2; exit 0; fi
exec '{sys.executable}' -c 'import time; time.sleep(60)' "$@"
""",
    )
    home = tmp_path / "home"
    (home / "jars").mkdir(parents=True)
    for jar in hz_jars:
        (home / "jars" / jar.name).symlink_to(jar)
    port = free_port()
    cli = _cli_process(
        ["start", "--port", str(port), "--home", str(home), "--timeout", "60"], {"JAVA_HOME": str(fake_home)}
    )
    pid_file = home / "run" / f"dita-{port}" / "member.pid"
    member = 0
    try:
        _wait_for(pid_file, cli)
        time.sleep(0.3)
        member = int(pid_file.read_text())
        assert pid_alive(member)
        cli.send_signal(signum)
        _, err = cli.communicate(timeout=20)
        assert cli.returncode == 130, err  # as for Ctrl-C
        assert not pid_alive(member)
        assert not pid_file.exists()
    finally:
        cli.kill()
        cli.communicate()
        if member and pid_alive(member):
            os.kill(member, signal.SIGKILL)
