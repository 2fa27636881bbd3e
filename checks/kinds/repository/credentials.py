"""What counts as a plaintext credential in configuration: a setting named like a secret whose
value is a literal credential, or a password inside a connection URL. A setting whose name only
contains a secret-like word but whose value is a length, a duration, a flag, a path or a
reference (``PASSWORD_MIN_LENGTH=12``, ``TOKEN_TTL=3600``, ``SECRET_ROTATION_ENABLED=true``,
``DB_PASSWORD_FILE=/run/secrets/db``) is not one.

Nothing here ever returns a secret's value: ``mask`` and ``masked_url`` are for messages."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

# Words that make a setting's name a secret's name.
SECRET_WORDS = frozenset(
    {
        "password", "passwd", "pass", "pwd", "passphrase", "secret", "secrets", "token",
        "credential", "credentials", "apikey", "privatekey", "secretkey", "accesskey",
        "authkey", "masterkey", "signingkey", "encryptionkey", "appkey",
    }
)  # fmt: skip
# Two-word names that are a secret's name (``API_KEY``, ``PRIVATE_KEY``, …).
SECRET_PAIRS = frozenset(
    {
        ("api", "key"), ("private", "key"), ("secret", "key"), ("access", "key"),
        ("auth", "key"), ("master", "key"), ("signing", "key"), ("encryption", "key"),
        ("app", "key"), ("license", "key"), ("client", "secret"), ("account", "key"),
        ("storage", "key"), ("shared", "key"), ("session", "key"), ("cookie", "key"),
    }
)  # fmt: skip
# A word after the secret word that makes the setting about the secret rather than the secret
# itself: PASSWORD_MIN_LENGTH, TOKEN_TTL, SECRET_ROTATION_ENABLED, DB_PASSWORD_FILE, TOKEN_URL.
QUALIFIERS = frozenset(
    {
        "file", "path", "dir", "directory", "location", "length", "len", "min", "max",
        "minimum", "maximum", "ttl", "expiry", "expires", "expire", "expiration", "lifetime",
        "timeout", "age", "seconds", "minutes", "hours", "days", "enabled", "disabled", "enable",
        "disable", "required", "rotation", "algorithm", "alg", "type", "header", "name", "id",
        "url", "uri", "endpoint", "host", "port", "user", "username", "count", "limit", "size",
        "bits", "rounds", "cost", "iterations", "policy", "strength", "complexity", "history",
        "reset", "provider", "backend", "store", "mount", "version", "prefix", "format",
        "encoding", "hasher", "cipher", "mode", "level", "regex", "pattern", "chars", "scope",
        "scopes", "audience", "issuer", "realm", "region", "arn", "ref", "env", "var",
        "source", "method", "field", "param", "cookie", "lookup", "validation", "validator",
        "hint", "label", "manager", "strategy", "interval", "refresh", "retries", "permission",
        "permissions", "role", "roles", "kind", "schema", "namespace", "group", "owner",
        "threshold", "window", "duration", "delay", "attempts",
    }
)  # fmt: skip
BOOLEANS = frozenset(
    {"true", "false", "yes", "no", "on", "off", "enabled", "disabled", "none", "null"}
)
# Values that name where the secret is kept instead of holding it.
REFERENCE = re.compile(
    r"^(?:/|\./|\.\./|~/|[A-Za-z]:\\|file:|vault:|arn:aws:|secretsmanager:|ssm:|op://|"
    r"sm://|gcp-secret:|azure-keyvault:|secret:|ref\+)",
    re.IGNORECASE,
)
# A short number or a duration: a length, a count, a TTL — not a password.
QUANTITY = re.compile(
    r"^(?:\d{1,3}(?:\.\d+)?|\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|w|y|secs?|mins?|hours?|days?))$", re.I
)
PUBLIC = frozenset({"public", "publishable", "site", "pub"})
URL_CREDENTIAL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<user>[^\s:/@?#]*):(?P<password>[^\s/@?#]*)@"
)
# A credential passed as a URL's query parameter: jdbc:…?user=app&password=x, …&apiKey=x.
QUERY_CREDENTIAL = re.compile(
    r"[?&;](?P<name>password|passwd|pwd|pass|secret|token|api_?key|apikey|access_?token)="
    r"(?P<value>[^&;#\s]+)",
    re.IGNORECASE,
)
WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


@dataclass(frozen=True)
class Span:
    start: int
    end: int


def name_words(name: str) -> list[str]:
    """``POSTGRES_PASSWORD`` → [postgres, password]; ``apiKey`` → [api, key]."""
    return [w.lower() for part in re.split(r"[^A-Za-z0-9]+", name) for w in WORD.findall(part)]


def is_secret_name(name: str) -> bool:
    """A setting whose value would be a secret: the secret word is the name's last word or only
    followed by words that do not turn it into a setting *about* the secret."""
    words = name_words(name)
    last_secret = -1
    for i, word in enumerate(words):
        joined_pair = i > 0 and (words[i - 1], word) in SECRET_PAIRS
        if word in SECRET_WORDS or joined_pair or word.endswith(("password", "passwd", "secret")):
            last_secret = i
    if last_secret < 0:
        return False
    return not any(word in QUALIFIERS for word in words[last_secret + 1 :])


def is_key_name(name: str) -> bool:
    """``STRIPE_KEY``, ``SENDGRID_KEY``: a key of some service, unless it says it is public."""
    words = name_words(name)
    return len(words) > 1 and words[-1] == "key" and not PUBLIC.intersection(words)


def plaintext(name: str, value: str) -> bool:
    """Whether ``value``, written literally for the setting ``name``, is a plaintext secret."""
    if is_secret_name(name):
        return looks_like_credential(value)
    # A bare ``*_KEY`` is often not a secret (a cache key, a sort key): only key material counts.
    return is_key_name(name) and looks_like_key_material(value)


def looks_like_credential(value: str) -> bool:
    """Whether a literal value set for a secret's name is a credential (not a flag, a number
    or duration of something, a path or a reference to where the secret is kept)."""
    value = value.strip().strip("'\"")
    if not value or value.lower() in BOOLEANS or QUANTITY.match(value):
        return False
    if REFERENCE.match(value):
        return False
    # $VAR left for the container's shell (written $$VAR in Compose) is a reference too.
    return not re.fullmatch(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", value)


def looks_like_key_material(value: str) -> bool:
    value = value.strip().strip("'\"")
    return (
        len(value) >= 16
        and " " not in value
        and entropy(value) >= 3.0
        and looks_like_credential(value)
    )


def url_passwords(value: str) -> list[Span]:
    """Where a non-empty password sits in each ``scheme://user:password@host`` of ``value``, or
    in a ``password=`` query parameter of a URL."""
    spans = [
        Span(m.start("password"), m.end("password"))
        for m in URL_CREDENTIAL.finditer(value)
        if m.group("password")
    ]
    if "://" in value or value.startswith("jdbc:"):
        spans += [
            Span(m.start("value"), m.end("value"))
            for m in QUERY_CREDENTIAL.finditer(value)
            if looks_like_credential(m.group("value"))
        ]
    return spans


def masked_url(value: str) -> str:
    """The URLs of ``value`` with their passwords replaced by ``***`` (for a message)."""
    masked = URL_CREDENTIAL.sub(lambda m: f"{m['scheme']}://{m['user']}:***@", value)
    return QUERY_CREDENTIAL.sub(lambda m: f"{m.group()[0]}{m['name']}=***", masked)[:120]


def mask(value: str) -> str:
    """Enough to recognise a long value, nothing of a short one."""
    return f"{value[:2]}***" if len(value) >= 12 else "[redacted]"


def entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values()) if value else 0
