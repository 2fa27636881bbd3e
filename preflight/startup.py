"""Load settings before anything else, and turn a configuration error into one clear line."""

import importlib
import os
import sys

DEFAULT_SETTINGS = "preflight.settings.local"


def load_settings() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", DEFAULT_SETTINGS)
    from core.config import SettingsError

    try:
        importlib.import_module(os.environ["DJANGO_SETTINGS_MODULE"])
    except SettingsError as exc:
        sys.exit(f"preflight: configuration error: {exc}")
