from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The Liquor POS demo: no models; its command is ``load_demo``."""

    name = "demo"
    label = "demo"
    verbose_name = "Demo"
