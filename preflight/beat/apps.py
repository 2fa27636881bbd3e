from django.apps import AppConfig


class BeatConfig(AppConfig):
    name = "preflight.beat"
    label = "beat"
    verbose_name = "Beat"
