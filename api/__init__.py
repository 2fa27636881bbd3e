"""The REST API for CI under /api/v1/ (PRODUCT.md, "REST API"). Endpoints parse and present;
every rule is asked of the services, ``releases.access`` and ``checks.gate``."""
