"""Local services for development and tests: real servers started from this machine's tools.

``dita.services.hazelcast`` fetches the Hazelcast member jars with Maven and runs a member
with the machine's Java on 127.0.0.1 (``python -m dita.services.hazelcast fetch|start|stop|
status``, or ``dita services hazelcast ...``). Nothing here is used by a kernel at run time,
so the package imports nothing eagerly.
"""
