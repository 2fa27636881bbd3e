from django.apps import AppConfig


class ReleasesConfig(AppConfig):
    name = "releases"
    verbose_name = "Releases"

    def ready(self) -> None:
        from . import receivers  # noqa: F401 - sends audit anchors to the webhooks that want them
