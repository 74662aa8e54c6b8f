"""The local stack behind ``luma dev``: a Lambda runtime, an API Gateway emulator and moto.

- :mod:`local.runtime` runs ``functions/<name>/handler.py`` in-process, like Lambda would.
- :mod:`local.gateway` serves the WebSocket API, the ``@connections`` management API, the
  Lambda Invoke API, the HTTP API (``/api``) and ``web/`` with API-Gateway-shaped events.
- :mod:`local.devstack` wires them to a moto (DynamoDB) subprocess and runs everything.
"""
