"""Who did something: a person, an API token (acting for a person or a service), or Preflight itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Actor:
    user: Any = None  # django.contrib.auth User
    token: Any = None  # releases.ApiToken; loosely typed so the audit app depends on no other app
    system: str = ""

    @classmethod
    def of_user(cls, user: Any) -> Actor:
        return cls(user=user)

    @classmethod
    def of_token(cls, token: Any) -> Actor:
        return cls(user=token.user, token=token)

    @classmethod
    def of_system(cls, name: str) -> Actor:
        return cls(system=name)

    @classmethod
    def anonymous(cls) -> Actor:
        return cls(system="anonymous")

    @property
    def is_person(self) -> bool:
        return self.user is not None

    @property
    def label(self) -> str:
        if self.token is not None:
            owner = f" for {self.user.get_username()}" if self.user is not None else ""
            return f"token:{self.token.name}{owner}"
        if self.user is not None:
            return str(self.user.get_username())
        if self.system == "anonymous":
            return "anonymous"
        return f"system:{self.system or 'preflight'}"

    def __str__(self) -> str:
        return self.label
