"""``dita serve --config`` refuses, with exit status 2 and before anything starts, a setting it
would otherwise drop without a word: an option or DITA_GATEWAY_* variable beside a run's file
(the run takes its file's settings alone), a key outside a gateway file's [gateway] table, and
a kernel id no kernel can have (refused only once the journal's directory was made)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from gateway.helpers import DITA

# A run the exchange at port 9 never answers: a run not refused would stop at its build, exit 1.
RUN = """\
kernel_id = "file-kernel"
state_dir = "{state}"
[venue]
exchange = "binance"
symbols = ["BTC/USDT"]
base_url = "http://127.0.0.1:9"
[[strategies]]
strategy = "dita.examples.crossover:SmaCrossover"
[gateway]
port = 0
token_env = "DITA_GATEWAY_TOKEN"
"""


def _serve(
    config: Path, *options: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DITA_GATEWAY_")}
    return subprocess.run(
        [*DITA, "serve", "--config", str(config), *options],
        env={**environ, **(env or {})},
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_run_file_refuses_every_other_option_and_gateway_variable_naming_each(tmp_path: Path) -> None:
    """The run took its file's settings and dropped these: --hazelcast among them, so a HALT
    set on that cluster never reached the run."""
    state = tmp_path / "state"
    config = tmp_path / "run.toml"
    config.write_text(RUN.format(state=state))
    options = {
        "--hazelcast": "127.0.0.1:5701",
        "--journal": f"chdb://{tmp_path / 'journal'}",
        "--kernel-id": "other-kernel",
        "--max-slots": "3",
        "--seed-capital": "100",
        "--host": "127.0.0.1",
        "--port": "0",
        "--fill-rate": "1",
        "--openapi-out": str(tmp_path / "openapi.json"),
    }
    done = _serve(
        config,
        *[part for option in options.items() for part in option],
        "--live",
        env={
            "DITA_GATEWAY_TOKEN": "0123456789abcdef-token",  # the file's token_env: the run's own
            "DITA_GATEWAY_HAZELCAST": "127.0.0.1:5701",
            "DITA_GATEWAY_SSE_HISTORY": "5",
        },
    )
    assert done.returncode == 2, done.stderr
    refused = [line.split(":", 2)[1].strip() for line in done.stderr.splitlines()]
    assert sorted(refused) == sorted([*options, "DITA_GATEWAY_HAZELCAST", "DITA_GATEWAY_SSE_HISTORY"])
    assert "give it there as [projection]" in done.stderr
    assert done.stdout == ""  # no "mode: paper" line: the run was not started
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.toml"]


def test_a_run_file_alone_is_not_refused(tmp_path: Path) -> None:
    """--live and the variable the file names are the run's: it starts (and stops at its build,
    the exchange answering nothing)."""
    config = tmp_path / "run.toml"
    config.write_text(RUN.format(state=tmp_path / "state"))
    done = _serve(config, "--live", env={"DITA_GATEWAY_TOKEN": "0123456789abcdef-token"})
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith("mode: paper"), done.stdout


@pytest.mark.parametrize(
    ("text", "named"),
    [
        # A typo in the header: the gateway served with no journal and no cluster control plane.
        ('[gatway]\nport = 0\njournal = "chdb://{journal}"\nhazelcast = "127.0.0.1:5701"\n', "[gatway]"),
        # A setting above the header is the file's top level, not the gateway's.
        ('hazelcast = "127.0.0.1:5701"\n[gateway]\nport = 0\njournal = "chdb://{journal}"\n', "hazelcast"),
    ],
    ids=["misspelt-header", "above-the-header"],
)
def test_a_key_outside_the_gateway_table_is_refused_naming_it(tmp_path: Path, text: str, named: str) -> None:
    journal = tmp_path / "journal"
    config = tmp_path / "gateway.toml"
    config.write_text(text.format(journal=journal))
    done = _serve(config)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"error: {named}: not a gateway file's key"), done.stderr
    assert "dita gateway for kernel" not in done.stderr
    assert not journal.exists()


@pytest.mark.parametrize(
    ("where", "source"),
    [
        ("file", "gateway.kernel_id"),
        ("option", "--kernel-id"),
        ("variable", "DITA_GATEWAY_KERNEL_ID"),
    ],
)
def test_a_kernel_id_no_kernel_can_have_is_refused_before_the_journal_is_made(
    tmp_path: Path, where: str, source: str
) -> None:
    journal = tmp_path / "journal"
    config = tmp_path / "gateway.toml"
    kernel_id = "" if where == "variable" else "a b"
    line = f'kernel_id = "{kernel_id}"\n' if where == "file" else ""
    config.write_text(f'[gateway]\nport = 0\njournal = "chdb://{journal}"\n{line}')
    done = _serve(
        config,
        *(["--kernel-id", kernel_id] if where == "option" else []),
        env={"DITA_GATEWAY_KERNEL_ID": kernel_id} if where == "variable" else None,
    )
    assert done.returncode == 2, done.stderr
    flaw = "it is empty" if where == "variable" else "it holds white space"
    rule = "a kernel id is 1-200 bytes of UTF-8 without white space or NUL"
    assert done.stderr == f"error: {source}: {flaw}: {rule} (got {kernel_id!r})\n"
    assert not journal.exists()
