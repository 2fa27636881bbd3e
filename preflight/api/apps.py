from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "preflight.api"
    label = "api"
    verbose_name = "REST API"

    def ready(self) -> None:
        from . import gate_cache  # noqa: F401 - connects the receiver that expires gate answers
