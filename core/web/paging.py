"""Keyset pages of a filtered list (the audit log, the deployments timeline): the links to the
newest page and to the next older one keep the filters, which live in the query string."""

from __future__ import annotations

from django.http import QueryDict


def page_links(query: QueryDict, older_than: object | None) -> dict[str, str | None]:
    """``newest_query`` and ``older_query`` (None on the last page), for _page_link.html."""
    query = query.copy()
    query.pop("before", None)
    newest = query.urlencode()
    if older_than is None:
        return {"newest_query": newest, "older_query": None}
    query["before"] = str(older_than)
    return {"newest_query": newest, "older_query": query.urlencode()}
