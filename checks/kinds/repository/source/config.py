"""The catalog's ``repository:`` block: where a project's git repository is and how to reach it.

    repository:
      url: https://git.example.com/pos.git   # or ssh://git@host/pos.git, file:///srv/pos, srv/pos
      credentials_env: POS_GIT_TOKEN          # optional: names the variable, never the secret
      default_branch: main
      tag_pattern: v{version}

The same rules hold when the block is imported and again when a run uses it (settings may have
changed in between): a credential is only ever named, never Preflight's own configuration; a local
repository lies under PREFLIGHT_REPOSITORY_ROOT; plain ``http://`` only to this machine."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings

from ...base import ConfigError, refuse_reserved_env

KEYS = ("url", "credentials_env", "default_branch", "tag_pattern")
DEFAULT_BRANCH = "main"
DEFAULT_TAG_PATTERN = "v{version}"
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
# What git accepts in a branch or tag name, minus what could be taken for an option or a range.
REF_NAME = re.compile(r"^(?!-)(?!.*\.\.)(?!.*//)(?!.*@\{)[A-Za-z0-9._/+-]+(?<![./])(?<!\.lock)$")
SCHEMES = ("https", "http", "ssh", "file")


@dataclass(frozen=True)
class Repository:
    """A validated ``repository:`` block, with the URL taken apart."""

    url: str  # as written in the catalog (it never holds a credential)
    scheme: str  # https | http | ssh | file
    host: str  # "" for local repositories
    local_path: Path | None  # the repository on this machine, for file:// and plain paths
    credentials_env: str
    default_branch: str
    tag_pattern: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Repository:
        clean = validate_repository(config)
        scheme, host, local = _parse_url(clean["url"])
        return cls(
            url=clean["url"],
            scheme=scheme,
            host=host,
            local_path=local,
            credentials_env=clean.get("credentials_env", ""),
            default_branch=clean["default_branch"],
            tag_pattern=clean["tag_pattern"],
        )

    @property
    def fetch_url(self) -> str:
        """What git is given: a local repository by its resolved path, anything else as written."""
        return str(self.local_path) if self.local_path is not None else self.url

    def tag_for(self, version: str) -> str:
        return self.tag_pattern.replace("{version}", version)


def validate_repository(config: Any) -> dict[str, Any]:
    """The block as the catalog stores it, with its defaults filled in, or ConfigError naming
    the field (``repository.<field>``)."""
    if not isinstance(config, Mapping):
        raise ConfigError(
            "repository",
            "must be a mapping with url, and optionally credentials_env, default_branch and tag_pattern",
        )
    unknown = sorted(set(map(str, config)) - set(KEYS))
    if unknown:
        raise ConfigError(f"repository.{unknown[0]}", f"unknown setting; known: {', '.join(KEYS)}")
    url = config.get("url")
    if not isinstance(url, str) or not url.strip():
        raise ConfigError("repository.url", "is required: the repository's URL or local path")
    url = url.strip()
    scheme, _host, _local = _parse_url(url)
    clean: dict[str, Any] = {"url": url}

    credentials = config.get("credentials_env")
    if credentials not in (None, ""):
        if not isinstance(credentials, str) or not ENV_NAME.match(credentials):
            raise ConfigError(
                "repository.credentials_env",
                "name the environment variable that holds the token (or user:token, or for ssh the key file), e.g. POS_GIT_TOKEN",
            )
        refuse_reserved_env("repository.credentials_env", credentials)
        if scheme == "file":
            raise ConfigError(
                "repository.credentials_env", "a repository on this machine needs no credential"
            )
        clean["credentials_env"] = credentials

    branch = config.get("default_branch", DEFAULT_BRANCH)
    if not isinstance(branch, str) or not REF_NAME.match(branch):
        raise ConfigError("repository.default_branch", "must be a branch name, e.g. main")
    clean["default_branch"] = branch

    pattern = config.get("tag_pattern", DEFAULT_TAG_PATTERN)
    if (
        not isinstance(pattern, str)
        or pattern.count("{version}") != 1
        or not REF_NAME.match(pattern.replace("{version}", "1.0.0"))
        or re.search(r"[{}]", pattern.replace("{version}", ""))
    ):
        raise ConfigError(
            "repository.tag_pattern",
            "must be a tag name holding {version} once, e.g. v{version} or {version}",
        )
    clean["tag_pattern"] = pattern
    return clean


def _parse_url(url: str) -> tuple[str, str, Path | None]:
    """(scheme, host, local path) of a repository URL, or ConfigError saying what is wrong."""

    def refuse(message: str) -> ConfigError:
        return ConfigError("repository.url", message)

    if url.startswith("-") or any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise refuse("is not a repository URL or path")
    if "://" not in url:
        if re.match(r"^[^/]*:", url):
            raise refuse(
                "write an ssh repository as ssh://user@host/path, an https one as https://host/path"
            )
        return "file", "", _local_path(url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise refuse(f"use https://, ssh://, file:// or a local path (not {scheme}://)")
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise refuse("a file:// URL names a path on this machine: file:///path")
        return "file", "", _local_path(unquote(parts.path))
    if parts.password is not None:
        raise refuse(
            "must not hold a credential: name the variable that holds it in credentials_env"
        )
    host = parts.hostname or ""
    if not host or host.startswith("-"):
        raise refuse("names no host")
    if scheme == "https" and parts.username:
        raise refuse(
            "must not hold a user name: give user:token in the variable credentials_env names"
        )
    if scheme == "http" and not _loopback(host):
        raise refuse("plain http:// only to this machine (127.0.0.1, localhost); use https://")
    if not parts.path.strip("/"):
        raise refuse("names no repository path")
    try:
        parts.port  # noqa: B018 - a malformed port raises
    except ValueError:
        raise refuse("has a malformed port") from None
    return scheme, host, None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _local_path(raw: str) -> Path:
    """A local repository: absolute, or relative to PREFLIGHT_REPOSITORY_ROOT; either way it
    must lie under that root (after following symlinks)."""
    root = Path(settings.PREFLIGHT_REPOSITORY_ROOT).resolve()
    path = Path(raw)
    resolved = (path if path.is_absolute() else root / path).resolve()
    if not resolved.is_relative_to(root):
        raise ConfigError(
            "repository.url",
            "a repository on this machine must lie under PREFLIGHT_REPOSITORY_ROOT",
        )
    return resolved
