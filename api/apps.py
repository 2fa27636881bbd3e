from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    label = "api"
    verbose_name = "REST API"

    def ready(self) -> None:
        # Connect their receivers in every process (the admin and the worker change tokens and
        # projects too, without ever loading the API's views).
        from . import gate_cache, token_cache  # noqa: F401
