"""The engine gateway: how processes that are not Python, and people, drive a kernel.

- ``dita.gateway.stdio``: the stdio NDJSON engine (``dita stdio``), its commands run by
  ``dita.gateway.engine`` (``OrderEngine``, a file per behaviour beside it);
- ``dita.gateway.app``: the HTTP API, server-sent events and operator page (``dita serve``).
- ``dita.gateway.server``: the server ``dita serve`` runs the app in, and its stop.

Submodules are imported on demand so ``dita stdio`` does not load the web stack.
docs/reference/stdio-protocol.md and docs/reference/http-api.md specify the two protocols.
"""
