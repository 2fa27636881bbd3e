# The API's fixtures: a pipeline's client, a gate that is open in development, a fresh cache.
from ..api.conftest import _fresh_cache, ci, open_dev  # noqa: F401
