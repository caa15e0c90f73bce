"""The configuration of a ``dita live`` run (``config``: one TOML file, checked whole); the
command that builds and runs its stack is ``dita.cli.live`` with ``dita.cli.live_run``."""
