"""``dita serve`` as a process: configuration file, environment, generated token, journal
metrics, and refusal of a bad configuration."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from dita.gateway.config import CONFIG_FILE_BYTES, GatewaySettings, SettingsError, load_settings
from dita.services.hazelcast import free_port
from gateway.helpers import DITA, wait_until
from journal.helpers import held_chdb_directory

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


@contextmanager
def serve(*args: str, env: dict[str, str] | None = None) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    proc = subprocess.Popen(
        [*DITA, "serve", "--port", str(port), *args],
        env={**os.environ, **(env or {})},
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"dita serve exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            return httpx.get(url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, timeout=60, interval=0.1)
        yield proc, url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if proc.stderr:
            proc.stderr.close()


def test_openapi_out_writes_the_documented_schema(tmp_path: Path) -> None:
    out = tmp_path / "openapi.json"
    res = subprocess.run([*DITA, "serve", "--openapi-out", str(out)], capture_output=True, timeout=120)
    assert res.returncode == 0, res.stderr.decode()
    assert json.loads(out.read_text()) == json.loads(DOC.read_text())


def test_openapi_out_that_cannot_be_written_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    for out, reason in (
        (tmp_path / "no-dir" / "openapi.json", "No such file or directory"),
        (tmp_path, "Is a directory"),
    ):
        res = subprocess.run([*DITA, "serve", "--openapi-out", str(out)], capture_output=True, timeout=120)
        stderr = res.stderr.decode()
        assert res.returncode == 2, stderr
        assert f"error: --openapi-out {out}: cannot write the schema: {reason}" in stderr
        assert "Traceback" not in stderr


def test_config_file_token_and_limits(tmp_path: Path) -> None:
    token = "from-the-file-0123456789"
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(
        f'[gateway]\ntoken = "{token}"\nmax_body_bytes = 1024\nmax_slots = 3\nkernel_id = "k-cfg"\n'
    )
    with serve("--config", str(cfg)) as (_, url):
        health = httpx.get(url + "/healthz").json()
        assert health["kernel_id"] == "k-cfg" and health["max_slots"] == 3
        body = {"action": "ENTER", "asset": "BTC", "side": "LONG", "target_size": 1, "reference_price": 10}
        assert httpx.post(url + "/v1/intents", json=body).status_code == 401
        ok = httpx.post(url + "/v1/intents", json=body, headers={"authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and ok.json()["accepted"] is True
        big = {**body, "reason": "x" * 2000}
        assert (
            httpx.post(
                url + "/v1/intents", json=big, headers={"authorization": f"Bearer {token}"}
            ).status_code
            == 413
        )


def test_environment_overrides_the_file_and_journal_lag_is_exported(tmp_path: Path) -> None:
    cfg = tmp_path / "gateway.toml"
    cfg.write_text('[gateway]\ntoken = "from-the-file-0123456789"\n')
    token = "from-the-environment-0123"
    dsn = f"chdb://{tmp_path / 'journal'}"
    with serve("--config", str(cfg), "--journal", dsn, env={"DITA_GATEWAY_TOKEN": token}) as (_, url):
        body = {"action": "ENTER", "asset": "BTC", "side": "LONG", "target_size": 1, "reference_price": 10}
        assert (
            httpx.post(
                url + "/v1/intents", json=body, headers={"authorization": "Bearer from-the-file-0123456789"}
            ).status_code
            == 401
        )
        assert httpx.post(
            url + "/v1/intents", json=body, headers={"authorization": f"Bearer {token}"}
        ).json()["accepted"]

        def written() -> bool:
            text = httpx.get(url + "/metrics").text
            match = re.search(r"^dita_journal_written_rows (\S+)$", text, re.M)
            return bool(match) and float(match.group(1)) > 0 and "dita_journal_lag_seconds" in text

        wait_until(written, timeout=60, interval=0.2)


def test_without_a_token_one_is_generated_and_printed() -> None:
    with serve() as (proc, url):
        assert proc.stderr is not None
        line = proc.stderr.readline().decode()
        match = re.search(r"bearer token: (\S+)", line)
        assert match, line
        token = match.group(1)
        body = {"mode": "HALTED"}
        assert httpx.put(url + "/v1/control", json=body).status_code == 401
        assert (
            httpx.put(url + "/v1/control", json=body, headers={"authorization": f"Bearer {token}"}).json()[
                "mode"
            ]
            == "HALTED"
        )


def test_max_connections_must_leave_room_for_commands_beside_the_event_streams() -> None:
    """Event streams hold their connections: with max_connections at sse_max_clients, open
    streams locked every POST out, a PUT /v1/control halting the kernel too."""
    with pytest.raises(
        SettingsError, match=r"max_connections \(100\) must be at least sse_max_clients \(100\) \+ 10"
    ):
        load_settings(max_connections=100)
    assert load_settings(max_connections=110).max_connections == 110


def test_a_cluster_name_without_cluster_members_is_refused_not_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`hazelcast_cluster` alone was taken and ignored: the gateway served with no projection
    and no cluster control plane, so `dita control set --mode HALTED` on that cluster did not
    halt it, and nothing said so."""
    cfg = tmp_path / "gateway.toml"
    cfg.write_text('[gateway]\nhazelcast_cluster = "prod"\n')
    with pytest.raises(SettingsError) as err:
        load_settings(cfg)
    [problem] = err.value.problems
    assert "hazelcast_cluster ('prod')" in problem and "hazelcast" in problem.split("without", 1)[1]
    monkeypatch.setenv("DITA_GATEWAY_HAZELCAST_CLUSTER", "prod")
    with pytest.raises(SettingsError):
        load_settings()
    assert load_settings(hazelcast="127.0.0.1:5701").hazelcast_cluster == "prod"


def test_bad_configuration_is_refused_naming_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "gateway.toml"
    cfg.write_text("[gateway]\nport = 8080\nmax_body_byte = 10\n")
    res = subprocess.run([*DITA, "serve", "--config", str(cfg)], capture_output=True, timeout=120)
    assert res.returncode == 2
    assert res.stderr.decode() == "error: gateway.max_body_byte: not a gateway setting\n"


def test_an_unknown_gateway_variable_is_refused_naming_it(tmp_path: Path) -> None:
    """A typo such as DITA_GATEWAY_TOKN was ignored: the server came up on a random token."""
    env = {**os.environ, "DITA_GATEWAY_TOKN": "0123456789abcdef-secret"}
    res = subprocess.run([*DITA, "serve", "--port", "0"], env=env, capture_output=True, timeout=120)
    assert res.returncode == 2
    (line,) = res.stderr.decode().splitlines()
    assert line.startswith(
        "error: DITA_GATEWAY_TOKN: not a gateway setting; the variables are DITA_GATEWAY_HOST,"
    )
    assert "DITA_GATEWAY_TOKEN" in line and "secret" not in line


SECRET = "hunter2-secret"  # too short for a token, and long enough to spot anywhere


@pytest.mark.parametrize("how", ["file", "env"])
def test_a_refused_token_is_named_and_never_shown(tmp_path: Path, how: str) -> None:
    """pydantic's dump of a refused token (`input_value='...'`) put the secret on stderr,
    with a traceback-like block and a pydantic URL: each problem is one `error:` line naming
    where the value came from, and a secret's value is not in it."""
    cfg = tmp_path / "gateway.toml"
    if how == "file":
        cfg.write_text(f'[gateway]\ntoken = "{SECRET}"\napi_key = "{SECRET}"\nport = "abc"\n')
        env, expected = (
            {},
            [
                "error: gateway.token: String should have at least 16 characters",
                "error: gateway.port: Input should be a valid integer, unable to parse string as an integer"
                " (got 'abc')",
                "error: gateway.api_key: not a gateway setting",
            ],
        )
    else:
        cfg.write_text("[gateway]\nport = 8080\n")
        env, expected = (
            {"DITA_GATEWAY_TOKEN": SECRET, "DITA_GATEWAY_PORT": "abc"},
            [
                "error: DITA_GATEWAY_PORT: Input should be a valid integer, unable to parse string as an"
                " integer (got 'abc')",
                "error: DITA_GATEWAY_TOKEN: String should have at least 16 characters",
            ],
        )
    res = subprocess.run(
        [*DITA, "serve", "--config", str(cfg)], env={**os.environ, **env}, capture_output=True, timeout=120
    )
    stderr = res.stderr.decode()
    assert res.returncode == 2, stderr
    assert SECRET not in stderr and SECRET.encode() not in res.stdout
    assert sorted(stderr.splitlines()) == sorted(expected)


def test_a_refused_setting_names_its_source_in_python_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(f'[gateway]\ntoken = "{SECRET}"\nmax_slots = 0\n')
    monkeypatch.setenv("DITA_GATEWAY_PORT", "70000")
    with pytest.raises(SettingsError) as err:
        load_settings(cfg, host="")
    assert err.value.problems == [
        "--host: String should have at least 1 character (got '')",
        "DITA_GATEWAY_PORT: Input should be less than or equal to 65535 (got '70000')",
        "gateway.token: String should have at least 16 characters",
        "gateway.max_slots: Input should be greater than or equal to 1 (got 0)",
    ]
    assert SECRET not in str(err.value) and err.value.__cause__ is None and err.value.__suppress_context__


def test_a_table_given_for_a_setting_is_not_shown_and_an_unknown_flag_is_unknown(tmp_path: Path) -> None:
    """`journal` is the setting that carries a password: a table given for it is named, not
    printed. `foo = true` is not a gateway setting, whatever its value."""
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(f'[gateway]\nfoo = true\n[gateway.journal]\nurl = "x"\npassword = "{SECRET}"\n')
    with pytest.raises(SettingsError) as err:
        load_settings(cfg)
    assert sorted(err.value.problems) == [
        "gateway.foo: not a gateway setting",
        "gateway.journal: Input should be a valid string (got a table)",
    ]
    assert SECRET not in str(err.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[gateway\n", "Expected ']'"),
        ("gateway = 5\n", "[gateway] must be a table, got int"),
        (b"[gateway]\nhost = '\xff'\n", "can't decode byte 0xff"),
        # Deeper than tomllib's recursion can follow: a RecursionError, not a TOMLDecodeError.
        ("a = " + "[" * 100_000, "nested too deeply"),
    ],
)
def test_a_config_file_that_cannot_be_read_is_named(tmp_path: Path, text: str | bytes, message: str) -> None:
    cfg = tmp_path / "gateway.toml"
    if isinstance(text, bytes):
        cfg.write_bytes(text)
    else:
        cfg.write_text(text)
    res = subprocess.run([*DITA, "serve", "--config", str(cfg)], capture_output=True, timeout=120)
    stderr = res.stderr.decode()
    assert res.returncode == 2, stderr
    assert stderr.startswith(f"error: --config {cfg}: ") and message in stderr and "Traceback" not in stderr


def test_a_config_file_over_the_cap_is_refused_naming_its_size_and_the_cap(tmp_path: Path) -> None:
    """A data dump named by mistake was read whole into memory before TOML refused it."""
    cfg = tmp_path / "dump.toml"
    with cfg.open("wb") as f:
        f.truncate(3 << 30)  # sparse: it takes no disk, and is never read
    res = subprocess.run([*DITA, "serve", "--config", str(cfg)], capture_output=True, timeout=120)
    assert res.returncode == 2
    assert res.stderr.decode() == (
        f"error: --config {cfg}: 3,221,225,472 bytes, over the 1,048,576 bytes a config file may hold\n"
    )


def test_a_config_file_at_the_cap_is_read_and_one_byte_more_is_not(tmp_path: Path) -> None:
    cfg = tmp_path / "gateway.toml"
    table = b"[gateway]\nport = 9000\n#"
    cfg.write_bytes(table + b"x" * (CONFIG_FILE_BYTES - len(table) - 1) + b"\n")
    assert cfg.stat().st_size == CONFIG_FILE_BYTES
    assert load_settings(cfg).port == 9000
    with cfg.open("ab") as f:
        f.write(b"\n")
    with pytest.raises(ValueError) as refused:
        load_settings(cfg)
    assert str(refused.value) == "1,048,577 bytes, over the 1,048,576 bytes a config file may hold"


def test_a_config_file_growing_past_the_cap_as_it_is_read_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file that said it was small at its open and gave more (a log appended to, say) is
    refused by what was read, not by a second look at its size, which may say anything by then."""
    import os

    from dita import _files

    cfg = tmp_path / "gateway.toml"
    cfg.write_bytes(b"[gateway]\n#" + b"x" * CONFIG_FILE_BYTES)
    real_fstat = os.fstat

    def says_small(fd: int) -> os.stat_result:
        st = real_fstat(fd)
        return os.stat_result((st.st_mode, *st[1:6], 10, *st[7:]))

    monkeypatch.setattr(_files.os, "fstat", says_small)
    with pytest.raises(ValueError) as refused:
        load_settings(cfg)
    assert str(refused.value) == "grew as it was read past the 1,048,576 bytes a config file may hold"


@pytest.mark.parametrize("kind", ["a character device", "a directory"])
def test_a_config_that_is_no_regular_file_is_refused_unread(tmp_path: Path, kind: str) -> None:
    """A link to /dev/zero was read until memory ran out. (A FIFO or a pipe is read once:
    test_config_pipe.py.)"""
    cfg = tmp_path / "gateway.toml"
    if kind == "a directory":
        cfg.mkdir()
    else:
        cfg.symlink_to("/dev/zero")
    with pytest.raises(ValueError, match=rf"^{kind}, not a regular file$"):
        load_settings(cfg)


@pytest.mark.parametrize(
    ("key", "most", "default"),
    [
        ("stop_grace_seconds", 300, 5.0),
        ("header_timeout_seconds", 3600, 10.0),
        ("body_timeout_seconds", 3600, 30.0),
        ("sse_keepalive_seconds", 300, 15.0),
    ],
)
@pytest.mark.parametrize("wait", ["0", "1e-300", "-1", "nan", "inf", "above", "soon"])
def test_a_wait_that_is_none_or_for_ever_is_refused(
    monkeypatch: pytest.MonkeyPatch, key: str, most: int, default: float, wait: str
) -> None:
    env = f"DITA_GATEWAY_{key.upper()}"
    monkeypatch.setenv(env, str(most + 1) if wait == "above" else wait)
    with pytest.raises(SettingsError, match=rf"^{env}: "):
        load_settings()
    monkeypatch.setenv(env, "0.5")
    assert getattr(load_settings(), key) == 0.5
    monkeypatch.delenv(env)
    assert getattr(load_settings(), key) == default


@pytest.mark.parametrize(
    "key", ["sse_keepalive_seconds", "header_timeout_seconds", "body_timeout_seconds", "stop_grace_seconds"]
)
def test_a_wait_too_short_to_serve_by_is_refused_naming_it(key: str) -> None:
    """`gt=0` took 1e-300: each event stream wrote keepalives without pause, no request's
    headers or body arrived in time, a stop cut every stream off at once. 0.1 s is the floor."""
    for tiny in (1e-300, 0.099):
        with pytest.raises(ValidationError, match=rf"{key}\n  Input should be greater than or equal to 0.1"):
            GatewaySettings(**{key: tiny})
    assert getattr(GatewaySettings(**{key: 0.1}), key) == 0.1


@pytest.mark.parametrize("capital", ["inf", "-inf", "nan", "-1", "1e16"])
def test_a_seed_capital_the_kernel_refuses_is_refused_as_a_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capital: str
) -> None:
    """`seed_capital = inf` passed the settings (only `ge=0`) and was refused by the kernel
    later, as `cannot start the kernel: invalid capital: inf`, after the port was bound: a
    bad setting names the setting, as its neighbours do."""
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(f"[gateway]\nseed_capital = {capital}\n")
    with pytest.raises(SettingsError, match=r"^gateway.seed_capital: .* \(got -?(inf|nan|1|1e\+16)\)$"):
        load_settings(cfg)
    monkeypatch.setenv("DITA_GATEWAY_SEED_CAPITAL", capital)
    with pytest.raises(SettingsError, match=r"^DITA_GATEWAY_SEED_CAPITAL: "):
        load_settings()
    monkeypatch.setenv("DITA_GATEWAY_SEED_CAPITAL", "1e15")
    assert load_settings().seed_capital == 1e15


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DITA_GATEWAY_SEED_CAPITAL", "1_000"),
        ("DITA_GATEWAY_MAX_SLOTS", "1_0"),
        ("DITA_GATEWAY_MAX_SLOTS", "\uff11\uff10"),
        ("DITA_GATEWAY_STOP_GRACE_SECONDS", " 5 "),
    ],
)
def test_a_number_setting_not_in_ascii_digits_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """Read as the HTTP API reads a number: pydantic took "1_0" for 10 slots."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert str(refused.value) == (
        f"{variable}: Input should be a number in ASCII digits (sign, fraction and exponent optional)"
        f" (got {value!r})"
    )


@pytest.mark.parametrize("key", ["max_slots", "port", "seed_capital", "kernel_id"])
def test_a_boolean_setting_is_refused_not_taken_for_1(tmp_path: Path, key: str) -> None:
    """TOML `max_slots = true` would validate as 1 slot: no setting is a boolean."""
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(f"[gateway]\n{key} = true\n")
    with pytest.raises(SettingsError, match=rf"^gateway.{key}: not a boolean setting \(got true\)$"):
        load_settings(cfg)
    res = subprocess.run(
        [*DITA, "serve", "--config", str(cfg), "--openapi-out", str(tmp_path / "o.json")],
        capture_output=True,
        timeout=120,
    )
    assert res.returncode == 2
    assert res.stderr.decode() == f"error: gateway.{key}: not a boolean setting (got true)\n"
    assert not (tmp_path / "o.json").exists()


@pytest.mark.parametrize(
    "key", ["max_slots", "port", "seed_capital", "sse_keepalive_seconds", "header_timeout_seconds"]
)
def test_a_flag_for_a_number_is_refused_by_the_settings_model_too(key: str) -> None:
    """Built in Python (not read from TOML), `GatewaySettings(max_slots=True)` was one slot."""
    with pytest.raises(ValidationError, match=rf"{key}\n.*True is a flag, not a number"):
        GatewaySettings(**{key: True})


@pytest.mark.parametrize("how", ["env", "option"])
def test_an_empty_host_is_refused_not_taken_for_every_interface(how: str) -> None:
    """asyncio binds host "" on every interface: an empty DITA_GATEWAY_HOST= must not open the
    gateway to the network."""
    args = ["--host", ""] if how == "option" else []
    env = {**os.environ, "DITA_GATEWAY_HOST": ""} if how == "env" else None
    cmd = [*DITA, "serve", "--port", str(free_port()), *args]
    res = subprocess.run(cmd, env=env, capture_output=True, timeout=30)
    stderr = res.stderr.decode()
    assert res.returncode == 2, stderr
    source = "--host" if how == "option" else "DITA_GATEWAY_HOST"
    assert stderr == f"error: {source}: String should have at least 1 character (got '')\n"


def test_a_host_with_a_nul_is_refused_as_a_setting_not_a_traceback(tmp_path: Path) -> None:
    """TOML holds a NUL (`\\u0000`): the settings took it and the socket's bind raised a
    TypeError, not an OSError, so `dita serve` ended in a traceback naming neither the
    setting nor the value."""
    cfg = tmp_path / "gateway.toml"
    cfg.write_text('[gateway]\nhost = "127.0.0.1\\u0000x"\n')
    res = subprocess.run(
        [*DITA, "serve", "--config", str(cfg), "--port", str(free_port())], capture_output=True, timeout=60
    )
    stderr = res.stderr.decode()
    assert res.returncode == 2, stderr
    assert stderr == (
        "error: gateway.host: must not hold a NUL character: no address has one (got '127.0.0.1\\x00x')\n"
    )


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            ["--journal", ""],
            {},
            "--journal: journal dsn must be a non-empty string like 'chdb://./dita-journal' (got '')",
        ),
        (
            ["--hazelcast", ""],
            {},
            "--hazelcast: cluster members must list at least one host:port (got '')",
        ),
        (
            [],
            {"DITA_GATEWAY_JOURNAL": ""},
            "DITA_GATEWAY_JOURNAL: journal dsn must be a non-empty string like 'chdb://./dita-journal'"
            " (got '')",
        ),
    ],
)
def test_an_empty_journal_or_hazelcast_is_refused_not_taken_for_none(
    args: list[str], env: dict[str, str], message: str
) -> None:
    """`--journal "$DSN"` with $DSN unset: `dita serve` took "" for no journal (no cluster) and
    traded with nothing journaled or projected, where `dita paper` refuses the same input."""
    cmd = [*DITA, "serve", "--port", str(free_port()), *args]
    res = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, timeout=60)
    stderr = res.stderr.decode()
    assert res.returncode == 2, stderr
    assert stderr == f"error: {message}\n"


@pytest.mark.parametrize("key", ["journal", "hazelcast"])
@pytest.mark.parametrize("value", ["", "  "])
def test_a_blank_journal_or_hazelcast_setting_is_refused_from_every_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str, value: str
) -> None:
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(f'[gateway]\n{key} = "{value}"\n')
    with pytest.raises(SettingsError, match=rf"^gateway\.{key}: .* \(got '{value}'\)$"):
        load_settings(cfg)
    monkeypatch.setenv(f"DITA_GATEWAY_{key.upper()}", value)
    with pytest.raises(SettingsError, match=rf"^DITA_GATEWAY_{key.upper()}: "):
        load_settings()
    with pytest.raises(SettingsError, match=rf"^--{key}: "):
        load_settings(**{key: value})
    monkeypatch.delenv(f"DITA_GATEWAY_{key.upper()}")
    assert getattr(load_settings(), key) is None  # unset: none


def test_projection_lag_is_exported_with_a_real_hazelcast_member(tmp_path: Path) -> None:
    from dita.services.hazelcast import HazelcastMember, fetch_jars
    from dita.services.hazelcast import free_port as hz_port

    fetch_jars()
    member = HazelcastMember(
        port=hz_port(), cluster_name="dita-gw-test", state_dir=tmp_path / "hz", exit_with_parent=True
    )
    member.start()
    try:
        args = ("--hazelcast", member.address, "--kernel-id", "k-hz")
        with serve(
            *args,
            env={
                "DITA_GATEWAY_TOKEN": "hz-token-0123456789abcdef",
                "DITA_GATEWAY_HAZELCAST_CLUSTER": "dita-gw-test",
            },
        ) as (_, url):
            body = {
                "action": "ENTER",
                "asset": "BTC",
                "side": "LONG",
                "target_size": 1,
                "reference_price": 10,
            }
            headers = {"authorization": "Bearer hz-token-0123456789abcdef"}
            assert httpx.post(url + "/v1/intents", json=body, headers=headers).json()["accepted"]

            def exported() -> bool:
                text = httpx.get(url + "/metrics").text
                return bool(re.search(r"^dita_projection_lag_seconds \S+$", text, re.M))

            wait_until(exported, timeout=60, interval=0.2)
            text = httpx.get(url + "/metrics").text
            assert re.search(r"^dita_projection_errors 0\.0$", text, re.M)
    finally:
        member.stop()


def test_stdio_refuses_a_bad_kernel_id_or_seed_capital_like_serve() -> None:
    for args, message in (
        (["--kernel-id", ""], 'cannot start the kernel: invalid kernel_id: ""'),
        (["--kernel-id", "a b"], 'cannot start the kernel: invalid kernel_id: "a b"'),
        (["--seed-capital", "inf"], "--seed-capital=inf must be zero or more and finite"),
        (["--seed-capital", "nan"], "--seed-capital=nan must be zero or more and finite"),
        (["--seed-capital", "-1"], "--seed-capital=-1.0 must be zero or more and finite"),
    ):
        res = subprocess.run([*DITA, "stdio", *args], input=b"", capture_output=True, timeout=120)
        stderr = res.stderr.decode()
        assert res.returncode == 2, stderr
        assert f"error: {message}" in stderr and "Traceback" not in stderr
        assert res.stdout == b""  # no engine_started: nothing ran
    res = subprocess.run([*DITA, "serve", "--kernel-id", "a b"], capture_output=True, timeout=120)
    assert res.returncode == 2
    assert "error: --kernel-id: it holds white space" in res.stderr.decode()


def test_serve_takes_the_seed_capital_as_stdio_does() -> None:
    """`dita stdio --seed-capital` had no `dita serve` twin: the file or the environment only."""
    token = {"DITA_GATEWAY_TOKEN": "seed-capital-test-0123456789"}
    with serve("--seed-capital", "2500", env=token) as (_, url):
        account = httpx.get(
            url + "/v1/account", headers={"authorization": f"Bearer {token['DITA_GATEWAY_TOKEN']}"}
        )
        assert account.json()["capital"] == 2500.0
    for capital in ("nan", "inf"):
        res = subprocess.run([*DITA, "serve", "--seed-capital", capital], capture_output=True, timeout=120)
        assert res.returncode == 2
        # Typer's `min=0` refused nan first, boxed and in its own words.
        assert res.stderr.decode() == f"error: --seed-capital={capital} must be zero or more and finite\n"


def test_a_port_in_use_exits_2_before_anything_opens(tmp_path: Path) -> None:
    """A listen address that cannot be bound is a setting to change (exit 2), not a cluster
    away (exit 3, retry later): a supervisor must tell them apart. No journal is opened."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        journal = tmp_path / "journal"
        res = subprocess.run(
            [*DITA, "serve", "--port", str(port), "--journal", f"chdb://{journal}"],
            capture_output=True,
            timeout=120,
        )
    stderr = res.stderr.decode()
    assert res.returncode == 2, stderr
    assert f"error: cannot listen on 127.0.0.1:{port}: " in stderr and "Traceback" not in stderr
    assert "dita gateway for kernel" not in stderr and not journal.exists()


def test_the_start_line_gives_an_ipv6_address_as_a_url_writes_it() -> None:
    """``http://::1:8080/`` is no URL a browser or curl takes: the address goes in brackets."""
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
            port = s.getsockname()[1]
    except OSError:
        pytest.skip("no IPv6 loopback here: NOT tested")
    proc = subprocess.Popen([*DITA, "serve", "--host", "::1", "--port", str(port)], stderr=subprocess.PIPE)
    try:
        assert proc.stderr is not None
        lines = iter(proc.stderr.readline, b"")
        line = next(line.decode() for line in lines if b"dita gateway for kernel" in line)
        url = re.search(r" on (\S+)$", line.strip())
        assert url and url.group(1) == f"http://[::1]:{port}/", line
        health = url.group(1) + "healthz"

        def up() -> bool:  # the line comes once the address is bound, before uvicorn listens
            try:
                return httpx.get(health, timeout=2).json()["status"] == "ok"
            except httpx.HTTPError:
                return False

        wait_until(up, timeout=60, interval=0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if proc.stderr:
            proc.stderr.close()
    with socket.socket(socket.AF_INET6) as held:
        held.bind(("::1", port))
        held.listen()
        taken = subprocess.run(
            [*DITA, "serve", "--host", "::1", "--port", str(port)], capture_output=True, timeout=120
        )
    assert taken.returncode == 2 and f"cannot listen on [::1]:{port}: " in taken.stderr.decode()


def test_serve_refuses_a_hazelcast_cluster_it_cannot_reach_or_name() -> None:
    """A gateway projecting nowhere would leave operators blind: it does not start."""
    port = str(free_port())
    env = {k: v for k, v in os.environ.items() if "HAZELCAST" not in k}
    env["DITA_HAZELCAST_CONNECT_S"] = "0.5"  # each refusal waits that long, not the 5 s default
    cmd = [*DITA, "serve", "--port", port, "--hazelcast", "127.0.0.1:1"]
    res = subprocess.run(cmd, capture_output=True, timeout=120, env=env)
    stderr = res.stderr.decode()
    assert res.returncode == 3, stderr
    assert "cannot reach Hazelcast cluster 'dita' at 127.0.0.1:1 within 0.5s" in stderr
    assert "Traceback" not in stderr
    assert "dita gateway for kernel" not in stderr  # never served
    # The cluster name the other commands take from the environment, unless the gateway's own
    # setting names one.
    res = subprocess.run(
        cmd, capture_output=True, timeout=120, env={**env, "DITA_HAZELCAST_CLUSTER": "desk-a"}
    )
    assert res.returncode == 3 and "cluster 'desk-a' at 127.0.0.1:1" in res.stderr.decode()
    own = {**env, "DITA_HAZELCAST_CLUSTER": "desk-a", "DITA_GATEWAY_HAZELCAST_CLUSTER": "desk-b"}
    res = subprocess.run(cmd, capture_output=True, timeout=120, env=own)
    assert res.returncode == 3 and "cluster 'desk-b' at 127.0.0.1:1" in res.stderr.decode()
    res = subprocess.run(
        [*DITA, "serve", "--port", port, "--hazelcast", "no-port"], capture_output=True, timeout=120
    )
    stderr = res.stderr.decode()
    assert res.returncode == 2, stderr
    assert "cluster member must be host:port, got 'no-port'" in stderr and "Traceback" not in stderr


def test_serve_with_hazelcast_obeys_the_cluster_control_plane(tmp_path: Path) -> None:
    """`dita control set --mode HALTED` halts every kernel, the gateway's too: a kernel that
    projects into the cluster but ignores its control plane would trade on through a halt."""
    from dita.control.hazelcast import write_entry
    from dita.projection.hazelcast import connect_client
    from dita.services.hazelcast import HazelcastMember, fetch_jars
    from dita.services.hazelcast import free_port as hz_port

    fetch_jars()
    member = HazelcastMember(
        port=hz_port(), cluster_name="dita-gw-cp", state_dir=tmp_path / "hz", exit_with_parent=True
    )
    member.start()
    token = "cp-token-0123456789abcdef"
    headers = {"authorization": f"Bearer {token}"}
    enter = {"action": "ENTER", "asset": "BTC", "side": "LONG", "target_size": 1, "reference_price": 10}
    try:
        env = {"DITA_GATEWAY_TOKEN": token, "DITA_GATEWAY_HAZELCAST_CLUSTER": "dita-gw-cp"}
        with serve("--hazelcast", member.address, "--kernel-id", "k-gw-cp", env=env) as (_, url):
            client = connect_client([member.address], "dita-gw-cp", block=True, connect_timeout=30)
            try:
                write_entry(client, None, {"mode": "HALTED"}, updated_by="test")
                wait_until(lambda: httpx.get(url + "/v1/control").json()["mode"] == "HALTED", timeout=10)
                out = httpx.post(url + "/v1/intents", json=enter, headers=headers).json()
                assert not out["accepted"] and out["diagnostic_code"] == "MODE_BLOCKED"
                # PUT /v1/control goes through the plane (the kernel's own entry) and answers
                # with the state the kernel then runs, not the one it ran before.
                res = httpx.put(url + "/v1/control", json={"mode": "PAPER"}, headers=headers)
                assert res.status_code == 200 and res.json()["mode"] == "PAPER", res.text
                assert httpx.post(url + "/v1/intents", json=enter, headers=headers).json()["accepted"]
                # An entry stamped by hand with the largest float: no write can follow it, and the
                # plane refuses naming it. That answered 500; it is 409, and nothing changed.
                entries = client.get_map("dita_control_plane").blocking()
                entries.put("*", json.dumps({"mode": "PAPER", "mode_at": sys.float_info.max}))
                res = httpx.put(url + "/v1/control", json={"mode": "LIVE"}, headers=headers)
                assert res.status_code == 409, res.text
                assert "mode_at of entry '*' is 1.7976931348623157e+308" in res.json()["detail"]
                assert httpx.get(url + "/v1/control").json()["mode"] == "PAPER"
            finally:
                client.shutdown()
    finally:
        member.stop()


def test_serve_help_names_the_config_table() -> None:
    # Typer renders help as rich markup, where an unescaped "[gateway]" is a style tag and vanishes.
    out = subprocess.run(
        [*DITA, "serve", "--help"], capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}
    )
    assert out.returncode == 0, out.stderr
    assert "TOML file with a [gateway] table" in out.stdout


def test_sigterm_closes_the_kernel_before_the_process_ends(tmp_path: Path) -> None:
    """uvicorn re-raises the SIGTERM it handled once it has stopped; the kernel (its journal,
    projection and log) must be closed by then, or the rows it still holds are lost."""
    from dita.journal.dsn import parse_dsn

    journal = tmp_path / "j"
    sock = parse_dsn(f"chdb://{journal}").socket_address
    assert not sock.startswith("\0"), "path too long for a socket file: the test could not tell"
    env = {"DITA_GATEWAY_TOKEN": "sigterm-token-0123456789"}
    with serve("--journal", f"chdb://{journal}", env=env) as (proc, url):
        body = {"action": "ENTER", "asset": "BTC", "side": "LONG", "target_size": 1, "reference_price": 10}
        headers = {"authorization": "Bearer sigterm-token-0123456789"}
        assert httpx.post(url + "/v1/intents", json=body, headers=headers).json()["accepted"]
        assert os.path.exists(sock)  # the open journal serves SQL on it
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        assert proc.stderr is not None
        assert "Traceback" not in proc.stderr.read().decode()
    # close() removes the query socket; a process killed before it leaves the socket behind.
    assert not os.path.exists(sock)
    query = ["journal", "sql", "SELECT count() AS n FROM intents", "--dsn", f"chdb://{journal}", "-f", "json"]
    res = subprocess.run([*DITA, *query], capture_output=True, timeout=120)
    assert res.returncode == 0, res.stderr.decode()
    assert json.loads(res.stdout)[0]["n"] == 1


def test_sigterm_ends_open_event_streams() -> None:
    """The operator page keeps /v1/events open for good: a stop must end the stream, not
    wait for it (uvicorn waits for every response to finish, and this one never does)."""
    with serve() as (proc, url):
        try:
            with httpx.stream("GET", url + "/v1/events", timeout=30) as stream:
                lines = stream.iter_lines()
                assert next(lines).startswith("retry:")
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
                assert list(lines) == [""]  # the rest of the stream: it ended cleanly
        finally:
            if proc.poll() is None:  # still waiting for the stream: do not leave it behind
                proc.kill()
                proc.wait()


def test_serve_refuses_a_journal_directory_another_process_holds(tmp_path: Path) -> None:
    """A message and exit 2, as for a bad kernel id, not a traceback."""
    directory = tmp_path / "held"
    with held_chdb_directory(directory):
        res = subprocess.run(
            [*DITA, "serve", "--port", str(free_port()), "--journal", f"chdb://{directory}"],
            capture_output=True,
            timeout=120,
        )
    stderr = res.stderr.decode()
    assert res.returncode == 2, stderr
    assert (
        f"error: cannot start the kernel: journal directory {directory} is held by another process" in stderr
    )
    assert "Traceback" not in stderr


def test_serve_takes_the_mock_venue_options_as_stdio_does() -> None:
    """A resting order, then a part fill, reached over HTTP from the command line alone."""
    token = "venue-options-test-0123456789"
    auth = {"authorization": f"Bearer {token}"}
    env = {"DITA_GATEWAY_TOKEN": token}
    body = {"action": "ENTER", "asset": "BTC", "side": "LONG", "target_size": 2, "reference_price": 100,
            "order_type": "LIMIT", "limit_price": 100}  # fmt: skip
    with serve("--fill-rate", "0", env=env) as (_, url):
        assert httpx.post(url + "/v1/intents", json=body, headers=auth).json()["accepted"]
        assert [o["slot_id"] for o in httpx.get(url + "/v1/orders").json()] == [0]
        assert httpx.get(url + "/v1/slots/0").json()["fsm_state"] == "ENTRY_WORKING"
        cancel = httpx.post(url + "/v1/slots/0/cancel", headers=auth).json()
        assert cancel["accepted"] and httpx.get(url + "/v1/orders").json() == []
        assert httpx.get(url + "/v1/slots/0").json()["fsm_state"] == "IDLE"
    with serve("--partial-fill-rate", "1", "--partial-fill-ratio", "0.25", env=env) as (_, url):
        assert httpx.post(url + "/v1/intents", json=body, headers=auth).json()["accepted"]
        slot = httpx.get(url + "/v1/slots/0").json()
        assert (slot["fsm_state"], slot["size"]) == ("ENTRY_WORKING", 0.5)


def test_sigterm_stops_the_server_when_an_event_client_does_not_read(tmp_path: Path) -> None:
    """An event stream client that stopped reading (its socket full, then dropped for lagging)
    held uvicorn's stop for good: it waits for every connection to close, and this one never
    took the bytes still queued for it. The process never ended and the kernel never closed
    (its journal's rows lost): a supervisor had to SIGKILL it."""
    import time

    from dita.journal.dsn import parse_dsn

    journal = tmp_path / "j"
    sock = parse_dsn(f"chdb://{journal}").socket_address
    env = {"DITA_GATEWAY_TOKEN": "stuck-token-0123456789", **_SHORT_GRACE}
    headers = {"authorization": "Bearer stuck-token-0123456789"}
    with serve("--journal", f"chdb://{journal}", env=env) as (proc, url):
        port = int(url.rsplit(":", 1)[1])
        with socket.socket() as client:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            client.connect(("127.0.0.1", port))
            client.sendall(b"GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # and never read
            with httpx.Client(base_url=url, headers=headers) as http:
                wait_until(lambda: http.get("/healthz").json()["sse_clients"] == 1, timeout=30)
                # A position whose slot events are ~9 KB: each mark then fills the sockets fast.
                fat = {f"k{i}": "x" * 250 for i in range(32)}
                body = {"action": "ENTER", "asset": "BTC", "side": "LONG", "target_size": 1,
                        "reference_price": 100, "metadata": fat}  # fmt: skip
                assert http.post("/v1/intents", json=body).json()["accepted"]
                deadline = time.monotonic() + 120
                while http.get("/healthz").json()["sse_clients"] and time.monotonic() < deadline:
                    for i in range(200):
                        http.post("/v1/marks", json={"asset": "BTC", "price": 100 + i})
                assert http.get("/healthz").json()["sse_clients"] == 0, "the client was never dropped"
            _sigterm_ends_it(proc)
    assert not os.path.exists(sock)  # the kernel closed its journal


def test_sigterm_with_an_event_client_that_stopped_reading_logs_no_error() -> None:
    """At a stop, an event stream whose client stopped reading (not yet dropped) cannot take
    the stream's end: the gateway gives it up after 1 s, and uvicorn said so as
    `ERROR: ASGI callable returned without completing response.`, which read as a fault."""
    token = "stop-error-token-0123456789"
    env = {"DITA_GATEWAY_TOKEN": token, "DITA_GATEWAY_STOP_GRACE_SECONDS": "3",
           "DITA_GATEWAY_SSE_CLIENT_BUFFER": "100000"}  # fmt: skip
    fat = {f"k{i}": "x" * 250 for i in range(32)}
    with serve(env=env) as (proc, url):
        port = int(url.rsplit(":", 1)[1])
        with socket.socket() as client:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            client.connect(("127.0.0.1", port))
            client.sendall(b"GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # and never read
            with httpx.Client(base_url=url, headers={"authorization": f"Bearer {token}"}) as http:
                wait_until(lambda: http.get("/healthz").json()["sse_clients"] == 1, timeout=30)
                body = {"action": "ENTER", "asset": "BTC", "side": "LONG", "target_size": 1,
                        "reference_price": 100, "metadata": fat}  # fmt: skip
                assert http.post("/v1/intents", json=body).json()["accepted"]
                for i in range(300):  # ~9 KB slot events: far more than both sockets hold
                    http.post("/v1/marks", json={"asset": "BTC", "price": 100 + i})
                assert http.get("/healthz").json()["sse_clients"] == 1  # not dropped
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            assert proc.stderr is not None
            stderr = proc.stderr.read().decode()
    assert "closed 1 connection(s) still open 3 s after the stop (a request or response" in stderr
    assert "ERROR" not in stderr and "Traceback" not in stderr, stderr
    assert proc.returncode == -signal.SIGTERM


# The stop's grace for a client that does not read: 1 s, not the 5 s default, so that each
# test of a stuck client does not wait 4 s more for the same outcome.
_SHORT_GRACE = {"DITA_GATEWAY_STOP_GRACE_SECONDS": "1"}


def _sigterm_ends_it(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to a `dita serve` (started with ``_SHORT_GRACE``) whose client does not read:
    it must end within 20 s, saying on stderr that the client did not read within the grace
    set (and the process is not left behind if stuck)."""
    import time

    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:  # still stuck: do not leave it behind
            proc.kill()
            proc.wait()
    assert time.monotonic() - started < 20
    assert proc.stderr is not None
    stderr = proc.stderr.read().decode()
    assert "still open 1 s after the stop (a request or response not finished)" in stderr
    assert "Traceback" not in stderr
    # A stream ended unfinished on purpose (dropped for lagging) is not an error of the gateway.
    assert "ASGI callable returned without completing response" not in stderr
    assert "ERROR" not in stderr
    # uvicorn re-raises the SIGTERM once stopped: the process ends by the signal (143 in a shell).
    assert proc.returncode == -signal.SIGTERM


# Python 3.12's asyncio.Server.wait_closed(), which uvicorn's stop awaits: it returns only once
# every connection has closed (3.11's, and uvloop's, return at once after close()). Put in place
# with sitecustomize, uvloop hidden, so that the test shows on 3.11 what a stuck client does on
# 3.12 and later without uvloop (which dita does not depend on).
_WAIT_CLOSED_AS_IN_312 = """
import asyncio.base_events
import sys

sys.modules["uvloop"] = None  # uvicorn then runs on asyncio's own loop


async def wait_closed(self):
    if self._waiters is None:
        return
    waiter = self._loop.create_future()
    self._waiters.append(waiter)
    await waiter


asyncio.base_events.Server.wait_closed = wait_closed
"""


@pytest.mark.parametrize("wait_closed_as_in_312", [False, True])
def test_sigterm_stops_the_server_when_a_client_does_not_take_its_response(
    tmp_path: Path, wait_closed_as_in_312: bool
) -> None:
    """A client that sent requests and never reads the answers keeps its connection open for
    good. The stop closed such connections only once uvicorn's own stop returned, and on
    Python 3.12 and later (asyncio's loop) that waits for every connection to close: the
    process never ended and the kernel never closed until a supervisor SIGKILLed it."""
    import time

    env = dict(_SHORT_GRACE)
    if wait_closed_as_in_312:
        site = tmp_path / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(_WAIT_CLOSED_AS_IN_312)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    with serve(env=env) as (proc, url):
        port = int(url.rsplit(":", 1)[1])
        with socket.socket() as client:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            client.connect(("127.0.0.1", port))
            client.setblocking(False)
            request = b"GET /openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            with contextlib.suppress(BlockingIOError):
                for _ in range(2000):  # and never read: the answers fill both sockets
                    client.send(request)
            # Until the server's answers wait on the client: queued in its socket and no longer
            # moving. A stop before the server read a request closes an idle connection at once.
            deadline, last, since = time.monotonic() + 60, (-1, -1), time.monotonic()
            while (queued := _server_queues(port, client.getsockname()[1])) != last or (
                last[0] <= 0 or time.monotonic() - since < 0.5
            ):
                if queued != last:
                    last, since = queued, time.monotonic()
                assert time.monotonic() < deadline, f"the server's answers never filled the sockets: {last}"
                time.sleep(0.05)
            _sigterm_ends_it(proc)


def _server_queues(port: int, client_port: int) -> tuple[int, int]:
    """The bytes the server on ``port`` has queued to send to the client on ``client_port``
    and has not read from it yet ((-1, -1): no such connection), from Linux's /proc/net/tcp."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = (int(a.rsplit(":", 1)[1], 16) for a in fields[1:3])
        if (local, remote) == (port, client_port):
            tx, rx = fields[4].split(":")
            return int(tx, 16), int(rx, 16)
    return -1, -1


def test_a_stop_names_a_connection_stuck_mid_request_truthfully() -> None:
    """A connection whose client never finished sending its request body is closed at the
    stop like one that does not read: stderr said it was one "whose client did not read the
    rest of its response", blaming a reader that had sent nothing to answer yet. The line
    now holds for both (a request or response not finished)."""
    import time

    token = "stuck-body-token-0123456789"  # with it: a request without one gets 401 unread
    with serve(env={**_SHORT_GRACE, "DITA_GATEWAY_TOKEN": token}) as (proc, url):
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.sendall(b"POST /v1/marks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                           b"Authorization: Bearer " + token.encode() + b"\r\n"
                           b"Content-Length: 100\r\n\r\n{")  # fmt: skip
            # The server has read it (well within body_timeout_seconds, 30 s): a stop before that
            # closes an idle connection at once.
            deadline = time.monotonic() + 60
            while _server_queues(port, client.getsockname()[1])[1] != 0:
                assert time.monotonic() < deadline, "the server never read the request"
                time.sleep(0.05)
            _sigterm_ends_it(proc)
