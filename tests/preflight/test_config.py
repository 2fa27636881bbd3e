"""Settings read from the environment: defaults, parsing and one-line errors."""

from __future__ import annotations

import pytest

from core.config import (
    SettingsError,
    env_bool,
    env_database,
    env_int,
    env_list,
    env_redis_url,
    env_secret_key,
    env_str,
)

GOOD_KEY = "k3y-" + "abcdefghij" * 5


def test_a_missing_required_variable_names_itself_and_what_it_expects() -> None:
    with pytest.raises(SettingsError) as caught:
        env_str("ALLOWED_HOSTS", expect="the host names", environ={})
    assert str(caught.value) == "ALLOWED_HOSTS is required: expected the host names"


def test_defaults_apply_only_when_unset_or_blank() -> None:
    assert env_int("N", default=3, environ={}) == 3
    assert env_int("N", default=3, environ={"N": "  "}) == 3
    assert env_int("N", default=3, environ={"N": "7"}) == 7


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("yes", True), ("ON", True), ("0", False), ("off", False), ("", False)],
)
def test_booleans(raw: str, expected: bool) -> None:
    assert env_bool("FLAG", default=not expected, environ={"FLAG": raw}) is expected


def test_a_malformed_boolean_is_refused() -> None:
    with pytest.raises(SettingsError, match=r"^FLAG='maybe' is malformed: expected true/false"):
        env_bool("FLAG", default=False, environ={"FLAG": "maybe"})


@pytest.mark.parametrize("raw", ["seven", "-1"])
def test_a_malformed_integer_is_refused(raw: str) -> None:
    with pytest.raises(SettingsError, match=r"expected an integer >= 0"):
        env_int("N", default=1, minimum=0, environ={"N": raw})


def test_lists_are_split_and_trimmed() -> None:
    assert env_list("HOSTS", environ={"HOSTS": " a.example , b.example ,"}) == [
        "a.example",
        "b.example",
    ]
    with pytest.raises(SettingsError):
        env_list("HOSTS", environ={"HOSTS": " , "})


@pytest.mark.parametrize(
    "raw", ["short", "django-insecure-" + "x" * 50, "a" * 60], ids=["short", "insecure", "uniform"]
)
def test_weak_secret_keys_are_refused(raw: str) -> None:
    with pytest.raises(SettingsError, match=r"^SECRET_KEY is malformed"):
        env_secret_key("SECRET_KEY", environ={"SECRET_KEY": raw})


def test_a_secret_can_come_from_a_file(tmp_path) -> None:
    secret = tmp_path / "secret_key"
    secret.write_text(GOOD_KEY + "\n")
    assert env_secret_key("SECRET_KEY", environ={"SECRET_KEY_FILE": str(secret)}) == GOOD_KEY


def test_an_unreadable_secret_file_is_named(tmp_path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(SettingsError, match=r"^SECRET_KEY_FILE='.*nope' cannot be read"):
        env_secret_key("SECRET_KEY", environ={"SECRET_KEY_FILE": str(missing)})


def test_database_urls_are_parsed_and_checked() -> None:
    config = env_database(
        "DATABASE_URL", environ={"DATABASE_URL": "postgres://u:p@db.internal:5433/preflight"}
    )
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["HOST"], config["PORT"], config["NAME"]) == ("db.internal", 5433, "preflight")
    with pytest.raises(SettingsError, match=r"expected a postgres/postgresql:// URL, got mysql"):
        env_database(
            "DATABASE_URL",
            schemes=("postgres", "postgresql"),
            environ={"DATABASE_URL": "mysql://u@h/db"},
        )
    with pytest.raises(SettingsError, match=r"names no database"):
        env_database("DATABASE_URL", environ={"DATABASE_URL": "postgres://u@h:5432"})


def test_redis_urls_are_checked() -> None:
    assert (
        env_redis_url("REDIS_URL", environ={"REDIS_URL": "redis://r:6379/1"}) == "redis://r:6379/1"
    )
    assert env_redis_url("REDIS_URL", default=None, environ={}) is None
    with pytest.raises(SettingsError, match=r"^REDIS_URL is malformed: expected a Redis URL"):
        env_redis_url("REDIS_URL", environ={"REDIS_URL": "http://r"})


def test_env_example_documents_every_variable_the_settings_read() -> None:
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    source = "\n".join(p.read_text() for p in (root / "preflight" / "settings").glob("*.py"))
    read = set(re.findall(r'env_[a-z_]+\(\s*"([A-Z][A-Z0-9_]*)"', source))
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", (root / ".env.example").read_text(), re.M))
    assert read, "the pattern no longer finds the settings' variables"
    assert read - documented == set()
