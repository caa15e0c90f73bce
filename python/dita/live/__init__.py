"""``dita live``: one process runs a configured set of strategies against a venue, with the
kernel's write-ahead log, journal, projection, control plane and HTTP gateway (``config``
reads the file, ``run`` builds and runs the stack)."""
