from django.apps import AppConfig


class ChecksConfig(AppConfig):
    name = "checks"
    verbose_name = "Readiness checks"

    def ready(self) -> None:
        from . import receivers  # noqa: F401 - starts verification when a deployment succeeds
