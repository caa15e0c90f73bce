"""``python -m dita``: the ``dita`` command."""

from dita.cli import main

main()
