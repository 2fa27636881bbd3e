"""Running the git CLI for a repository: an environment that never prompts and never reads the
host's git or ssh configuration, the credential passed only through the environment, a time
limit on every command, and failures turned into one clear line that holds no secret."""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings

from core.config import secret_value

from ...base import reserved_env
from .config import Repository

log = logging.getLogger(__name__)

GIT = shutil.which("git") or "/usr/bin/git"
# How much of git's own output is kept to explain a failure.
MAX_OUTPUT = 64 * 1024


class SourceError(Exception):
    """The release's source could not be had. The message is one line, fit for a result's
    detail: it names the repository without credentials and never holds a secret."""


class Credential:
    """The secret named by ``credentials_env``, read when a command runs and never kept."""

    def __init__(self, repository: Repository) -> None:
        self.env = repository.credentials_env
        self.value = ""
        if self.env:
            if reserved_env(self.env):
                raise SourceError(
                    f"{self.env} is Preflight's own configuration; name a variable of the repository."
                )
            self.value = secret_value(self.env)
            if not self.value:
                raise SourceError(
                    f"The environment variable {self.env} named as the repository's credential is not set."
                )


# Credentials a URL may carry: anything before @ in an http(s) URL (a token alone is one), a
# user:password pair in any other.
_HTTP_USERINFO = re.compile(r"(?i)(?:(?<=https://)|(?<=http://))[^/@\s]*@")
_PASSWORD_USERINFO = re.compile(r"(?<=://)[^/@\s:]*:[^/@\s]*@")


def display_url(url: str) -> str:
    """A URL as it may be shown: without credentials (an ssh user name is no secret)."""
    return _PASSWORD_USERINFO.sub("", _HTTP_USERINFO.sub("", url))


def scrub(text: str, secrets: Sequence[str] = ()) -> str:
    """``text`` without the secrets, URL credentials and authorization headers it may hold."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
            for part in secret.split(":"):
                if len(part) >= 6:
                    text = text.replace(part, "***")
    text = display_url(text)
    text = re.sub(r"(?i)(authorization:\s*)\S+(\s+\S+)?", r"\1***", text)
    return text


def environment(repository: Repository, credential: Credential | None) -> dict[str, str]:
    """The environment of a git command for ``repository``. Built from nothing (not inherited),
    so a host's credential helpers, URL rewrites, ssh agent or proxies play no part."""
    home = Path(settings.PREFLIGHT_GIT_CACHE_DIR) / ".home"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LC_ALL": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "/bin/false",
        "SSH_ASKPASS": "/bin/false",
        # Only the repository's own transport: no ext::, no redirect to another protocol.
        "GIT_ALLOW_PROTOCOL": repository.scheme,
    }
    timeout = str(settings.PREFLIGHT_GIT_TIMEOUT_SECONDS)
    config = [
        ("credential.helper", ""),
        ("core.askPass", "/bin/false"),
        # A redirect would carry the authorization header to wherever it points.
        ("http.followRedirects", "false"),
        ("http.lowSpeedLimit", "1"),
        ("http.lowSpeedTime", timeout),
        ("gc.autoDetach", "false"),
        ("maintenance.autoDetach", "false"),
        ("protocol.version", "2"),
    ]
    if repository.local_path is not None:
        # A repository on this machine owned by another account is still ours to read.
        config.append(("safe.directory", str(repository.local_path)))
    if credential is not None and credential.value and repository.scheme in ("https", "http"):
        config.append(("http.extraHeader", f"Authorization: {_authorization(credential.value)}"))
    if repository.scheme == "ssh":
        env["GIT_SSH_COMMAND"] = _ssh_command(credential)
        env["GIT_SSH_VARIANT"] = "ssh"
    env["GIT_CONFIG_COUNT"] = str(len(config))
    for index, (key, value) in enumerate(config):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env


def _authorization(value: str) -> str:
    """``user:token`` is sent as Basic credentials, a bare token as a bearer token."""
    if ":" in value:
        return "Basic " + base64.b64encode(value.encode()).decode()
    return f"Bearer {value}"


def _ssh_command(credential: Credential | None) -> str:
    known_hosts = settings.PREFLIGHT_GIT_KNOWN_HOSTS
    if not known_hosts:
        raise SourceError(
            "An ssh:// repository needs PREFLIGHT_GIT_KNOWN_HOSTS: the known-hosts file its host key is checked against."
        )
    if not Path(known_hosts).is_file():
        raise SourceError(
            f"The known-hosts file {known_hosts} (PREFLIGHT_GIT_KNOWN_HOSTS) does not exist."
        )
    words = ["ssh", "-F", os.devnull]
    if credential is not None and credential.value:
        key = Path(credential.value)
        if not key.is_file():
            raise SourceError(f"The ssh key file that {credential.env} names does not exist.")
        words += ["-i", str(key), "-o", "IdentitiesOnly=yes"]
    words += [
        "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={known_hosts}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", f"ConnectTimeout={min(30, settings.PREFLIGHT_GIT_TIMEOUT_SECONDS)}",
    ]  # fmt: skip
    return shlex.join(words)


def run(
    args: Sequence[str],
    *,
    env: dict[str, str],
    cwd: Path | None = None,
    secrets: Sequence[str] = (),
    check: bool = True,
    stdout: int | None = subprocess.PIPE,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``git args`` with a time limit, in its own process group (so ssh or a remote helper
    it started goes down with it). A failure raises SourceError with git's last words, scrubbed;
    ``check=False`` returns the completed process instead (for yes/no questions)."""
    timeout = settings.PREFLIGHT_GIT_TIMEOUT_SECONDS
    process = popen([GIT, *args], cwd=cwd, env=env, stdout=stdout)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(process)
        raise SourceError(f"git {args[0]} did not finish within {timeout} s.") from None
    except BaseException:
        _kill(process)
        raise
    completed = subprocess.CompletedProcess(args, process.returncode, out or b"", err[-MAX_OUTPUT:])
    if check and completed.returncode != 0:
        raise SourceError(scrub(last_words(completed.stderr), secrets))
    return completed


def popen(
    argv: Sequence[str], *, env: dict[str, str], cwd: Path | None = None, stdout: int | None
) -> subprocess.Popen[bytes]:
    """Start git in its own process group, reading nothing from us."""
    try:
        return subprocess.Popen(  # noqa: S603 - git with arguments we built, no shell
            list(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise SourceError(
            "git is not installed where the checks run: it is needed to fetch the project's repository."
        ) from None


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()


def last_words(stderr: bytes) -> str:
    """git's most telling line: its last fatal or error line, else its last line."""
    lines = [
        line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()
    ]
    for prefix in ("fatal:", "error:", "remote:"):
        marked = [line for line in lines if line.lower().startswith(prefix)]
        if marked:
            return marked[-1]
    return lines[-1] if lines else "git failed without saying why"
