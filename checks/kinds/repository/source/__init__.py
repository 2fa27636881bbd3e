"""A release's source, from the project's git repository (the catalog's ``repository:`` block).

A run fetches the release's commit (with the tags and the default branch) into the project's
mirror once, whatever the number of its repository checks and however many of them run at once
in the run's threads; every check then reads the commit's read-only tree. Nothing here uses the
ORM: it runs in the run's worker threads and takes plain values."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from releases.models.releases import FULL_GIT_SHA as FULL_SHA

from ...base import VerifiedRelease
from .cache import Mirror, Tree, evict
from .config import Repository
from .gitcmd import SourceError
from .revision import ChangedFile, Revision

__all__ = [
    "ChangedFile",
    "Checkout",
    "ReleaseCommit",
    "Repository",
    "Revision",
    "SourceError",
    "changed_files",
    "checkout",
]

log = logging.getLogger(__name__)

# Checkouts of runs still likely to be evaluating; older ones are forgotten (a later call for
# one simply fetches again).
MEMO_SIZE = 64
_memo: OrderedDict[tuple[Any, ...], Future[Checkout]] = OrderedDict()
_memo_lock = threading.Lock()


@dataclass(frozen=True)
class ReleaseCommit:
    """What git rules know of a run's release: its commit in the mirror, the repository's
    settings, and the release last verified in the run's environment."""

    revision: Revision
    repository: Repository
    version: str
    environment: str
    verified: VerifiedRelease | None


@dataclass(frozen=True)
class Checkout:
    """A release's commit, fetched: its tree to read and its facts to ask."""

    repository: Repository
    revision: Revision
    tree: Tree


def checkout(
    *,
    project: str,
    repository: Mapping[str, Any],
    sha: str,
    also: tuple[str, ...] = (),
    run_id: int | None = None,
) -> Checkout:
    """Fetch commit ``sha`` (and the commits in ``also`` when they are still in the repository:
    the release verified before, say) and extract its tree. Within one run (``run_id``) this
    happens once: concurrent callers wait for the first one and share its checkout, or its
    error. Raises SourceError with one line saying what went wrong."""
    if run_id is None:
        return _checkout(project, repository, sha, also)
    key = (run_id, project, sha, tuple(sorted(repository.items())), also)
    with _memo_lock:
        future = _memo.get(key)
        owner = future is None
        if future is None:
            future = Future()
            _memo[key] = future
            while len(_memo) > MEMO_SIZE:
                _memo.popitem(last=False)
    if owner:
        try:
            future.set_result(_checkout(project, repository, sha, also))
        except BaseException as exc:
            future.set_exception(exc)
    return future.result()


def _checkout(project: str, config: Mapping[str, Any], sha: str, also: tuple[str, ...]) -> Checkout:
    repository = _repository(config)
    sha = _full_sha(sha)
    mirror = Mirror(project, repository)
    try:
        mirror.fetch([sha])
        extra = [s for s in also if s and FULL_SHA.match(s) and not mirror.has_commit(s)]
        if extra:
            try:
                mirror.fetch(extra, refs=False)
            except SourceError as exc:
                # Only the comparison needs it; the rules that do will say so.
                log.info("git source: %s", exc)
        tree = Tree(mirror, sha)
        tree.extract()
    except SourceError:
        raise
    except OSError as exc:
        raise SourceError(f"The git cache could not be written: {exc.strerror or exc}.") from None
    try:
        evict(keep={mirror.path, tree.path})
    except OSError as exc:  # a full cache is no reason to fail the run
        log.warning("git cache eviction failed: %s", exc)
    return Checkout(repository=repository, revision=Revision(mirror, sha), tree=tree)


def _repository(config: Mapping[str, Any]) -> Repository:
    from ...base import ConfigError

    try:
        return Repository.from_config(config)
    except ConfigError as exc:
        raise SourceError(f"The catalog's {exc.field} is not usable: {exc.message}.") from None


def _full_sha(sha: str) -> str:
    sha = sha.strip().lower()
    if not FULL_SHA.match(sha):
        raise SourceError(
            f"Release commit {sha} is not a full commit id (40 or 64 hex digits); register the release with its full commit."
        )
    return sha


def changed_files(
    *, project: str, repository: Mapping[str, Any], base: str, sha: str, fetch: bool = True
) -> list[ChangedFile]:
    """The files that changed from commit ``base`` to commit ``sha`` of the project's
    repository. With ``fetch`` the commits are fetched when the mirror lacks them; without,
    only the mirror is read (a page must not wait for the network) and a commit it lacks is a
    SourceError."""
    config = _repository(repository)
    mirror = Mirror(project, config)
    base, sha = _full_sha(base), _full_sha(sha)
    if fetch:
        mirror.fetch([sha, base], refs=False)
    elif not mirror.has_commit(sha):
        raise SourceError(f"Commit {sha[:12]} has not been fetched yet.")
    return Revision(mirror, sha).changes_since(base)
