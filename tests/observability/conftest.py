# The API's fixtures: a pipeline's client, a gate that is open in development, a fresh cache.
from ..api.conftest import _fresh_cache, ci, open_dev  # noqa: F401

# A local HTTP server for http checks and webhook receivers.
from ..checks.conftest import _shared_http_server, http_server  # noqa: F401
