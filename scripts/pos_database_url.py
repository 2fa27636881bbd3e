"""The demo's Liquor POS database beside Preflight's own: DATABASE_URL with ``_liquor_pos``
after its database name (`make run` exports it as LIQUOR_POS_DATABASE_URL). Standard library
only: the Makefile runs it before the virtual environment exists."""

from __future__ import annotations

import sys
import urllib.parse

SUFFIX = "_liquor_pos"


def pos_url(database_url: str) -> str:
    parts = urllib.parse.urlsplit(database_url)
    # Without a database name, PostgreSQL connects to the one named after the role.
    name = urllib.parse.unquote(parts.path.lstrip("/")) or parts.username or "postgres"
    return urllib.parse.urlunsplit(parts._replace(path="/" + urllib.parse.quote(name + SUFFIX)))


if __name__ == "__main__":
    print(pos_url(sys.argv[1]))
