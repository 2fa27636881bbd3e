"""The mirror cache under PREFLIGHT_GIT_CACHE_DIR: per project (and repository URL) a bare mirror
that fetches only what a run needs, and a read-only tree per commit that rules read.

    <cache>/<project>-<url hash>/mirror.git        the bare mirror
    <cache>/<project>-<url hash>/mirror.lock       its lock; its mtime says when it was last used
    <cache>/<project>-<url hash>/trees/<sha>/      the commit's files, read-only
    <cache>/<project>-<url hash>/trees/<sha>.lock

Every entry (a mirror, a tree) has a file lock (fcntl): writers (a fetch, an extraction) hold it
exclusively, readers shared, and eviction only takes entries whose lock it gets at once, so two
runs of a project in two worker processes fetch one after the other, and nothing a run is reading
is evicted under it. Lock files are never deleted: a process holding the lock of a deleted file
would exclude nobody. Lock order: a tree's lock, then its mirror's."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import shutil
import subprocess
import tarfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from django.conf import settings

from . import gitcmd
from .config import Repository
from .gitcmd import Credential, SourceError, display_url

log = logging.getLogger(__name__)

PINNED_ATTRIBUTES = (
    "* -export-ignore -export-subst -text -eol -ident -filter -working-tree-encoding\n"
)
# Half-made or half-removed entries (a process killed mid-way) older than this are swept up.
STALE_SCRATCH_SECONDS = 3600


def cache_root() -> Path:
    return Path(settings.PREFLIGHT_GIT_CACHE_DIR)


@contextmanager
def locked(path: Path, *, shared: bool = False, wait: bool = True) -> Iterator[bool]:
    """Hold the file lock at ``path``; yields False (holding nothing) when ``wait`` is off and
    someone else holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        try:
            fcntl.flock(handle, mode if wait else mode | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _touch(lock: Path) -> None:
    """Mark an entry used now (its lock's mtime orders eviction)."""
    with suppress(FileNotFoundError):
        os.utime(lock)


def _size(path: Path) -> int:
    total = 0
    for directory, _dirs, files in os.walk(path):
        for name in files:
            with suppress(FileNotFoundError):
                total += os.lstat(os.path.join(directory, name)).st_size
    return total


def _writable_then_remove(path: Path) -> None:
    """Remove an entry (a tree is read-only). It is first moved aside, so a path that exists is
    always a whole entry, even if removing it stops half-way."""
    aside = path.with_name(f".{path.name}.removed.{uuid.uuid4().hex[:8]}")
    try:
        path.rename(aside)
    except FileNotFoundError:
        return
    for directory, _dirs, _files in os.walk(aside):
        os.chmod(directory, 0o700)
    shutil.rmtree(aside, ignore_errors=True)


@dataclass(frozen=True)
class Mirror:
    """A project's bare mirror of its repository."""

    project: str
    repository: Repository

    @property
    def home(self) -> Path:
        digest = hashlib.sha256(self.repository.fetch_url.encode()).hexdigest()[:12]
        return cache_root() / f"{self.project}-{digest}"

    @property
    def path(self) -> Path:
        return self.home / "mirror.git"

    @property
    def lock(self) -> Path:
        return self.home / "mirror.lock"

    @property
    def where(self) -> str:
        return display_url(self.repository.url)

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        """A read-only git command in the mirror (no network, no credential)."""
        env = gitcmd.environment(self.repository, None)
        env["GIT_DIR"] = str(self.path)
        return gitcmd.run(args, env=env, check=check)

    @contextmanager
    def reading(self) -> Iterator[Mirror]:
        with locked(self.lock, shared=True):
            _touch(self.lock)
            yield self

    def has_commit(self, sha: str) -> bool:
        if not (self.path / "HEAD").exists():
            return False
        return self.git("cat-file", "-e", f"{sha}^{{commit}}", check=False).returncode == 0

    def fetch(self, shas: list[str], *, refs: bool = True) -> None:
        """Bring the commits ``shas`` (those not here yet), and with ``refs`` the tags and the
        default branch as the repository has them now, in one ``git fetch``. Each commit fetched
        is kept by a ref of its own (refs/preflight/…), so the mirror's own housekeeping never
        drops a release that is no longer on any branch."""
        repository = self.repository
        credential = Credential(repository)
        secrets = [credential.value]
        with locked(self.lock):
            _touch(self.lock)
            if not (self.path / "HEAD").exists():
                _writable_then_remove(self.path)  # a mirror whose creation stopped half-way
                self.path.parent.mkdir(parents=True, exist_ok=True)
                env = gitcmd.environment(repository, None)
                gitcmd.run(["init", "--quiet", "--bare", str(self.path)], env=env)
            self._pin_attributes()
            missing = [sha for sha in shas if not self.has_commit(sha)]
            refspecs = [f"{sha}:refs/preflight/{sha}" for sha in missing]
            if refs:
                branch = repository.default_branch
                refspecs += [
                    f"+refs/heads/{branch}:refs/heads/{branch}",
                    "+refs/tags/*:refs/tags/*",
                ]
            if not refspecs:
                return
            env = gitcmd.environment(repository, credential)
            env["GIT_DIR"] = str(self.path)
            args = ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head"]
            if refs:
                args.append("--prune")
            completed = gitcmd.run(
                [*args, "--", repository.fetch_url, *refspecs],
                env=env,
                secrets=secrets,
                check=False,
            )
            if completed.returncode != 0:
                raise SourceError(self._explain(completed.stderr, missing, secrets))
            (self.home / "mirror.size").write_text(str(_size(self.path)))

    def _pin_attributes(self) -> None:
        """The tree a rule reads is the commit's blobs as committed: the repository's own
        .gitattributes must not hide files from ``git archive`` (export-ignore), rewrite them
        (export-subst, ident, eol) or transcode them. The mirror's info/attributes outranks
        every .gitattributes in the tree."""
        info = self.path / "info"
        info.mkdir(exist_ok=True)
        attributes = info / "attributes"
        if not attributes.exists() or attributes.read_text() != PINNED_ATTRIBUTES:
            attributes.write_text(PINNED_ATTRIBUTES)

    def _explain(self, stderr: bytes, missing: list[str], secrets: list[str]) -> str:
        """One line saying why a fetch failed, in the terms of the catalog."""
        text = stderr.decode("utf-8", "replace")
        lowered = text.lower()
        where = self.where
        env = self.repository.credentials_env
        branch = self.repository.default_branch
        if f"couldn't find remote ref refs/heads/{branch}".lower() in lowered:
            return f"The repository {where} has no branch {branch} (the catalog's default_branch)."
        if any(
            marker in lowered
            for marker in (
                "not our ref",
                "couldn't find remote ref",
                "no such remote ref",
                "bad object",
                "did not send all necessary objects",
            )
        ):
            shown = ", ".join(sha[:12] for sha in missing) or "the commit"
            return f"Commit {shown} is not in {where}."
        if "host key verification failed" in lowered or "host key is known" in lowered:
            return f"The host key of {self.repository.host} is not in the known-hosts file PREFLIGHT_GIT_KNOWN_HOSTS names; {where} was not contacted."
        denied = (
            "authentication failed", "returned error: 401", "returned error: 403",
            "could not read username", "could not read password", "terminal prompts disabled",
            "permission denied (publickey", "permission denied, please try again",
        )  # fmt: skip
        if any(marker in lowered for marker in denied):
            if env:
                return f"The repository {where} refused the credential in {env}."
            return f"The repository {where} asks for a credential: name the variable holding it in the catalog's credentials_env."
        missing_repo = (
            "does not appear to be a git repository", "not a git repository",
            "repository not found", "returned error: 404", "no such file or directory",
        )  # fmt: skip
        if any(marker in lowered for marker in missing_repo) or re.search(
            r"repository '[^']*' not found", lowered
        ):
            return f"No git repository at {where}."
        unreachable = (
            "could not resolve host", "connection refused", "failed to connect",
            "connection timed out", "operation timed out", "network is unreachable",
            "couldn't connect", "no route to host", "connection reset", "operation too slow",
            # git's generic words, after the telling ones
            "could not read from remote repository", "unable to access", "unable to connect",
        )  # fmt: skip
        if any(marker in lowered for marker in unreachable):
            # The most specific line: ssh's own reason comes before git's generic last words.
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            telling = [line for line in lines if any(m in line.lower() for m in unreachable[:-3])]
            reason = telling[0] if telling else gitcmd.last_words(stderr)
            reason = gitcmd.scrub(reason, secrets).removeprefix("fatal: ")
            return f"The repository {where} is unreachable: {reason.rstrip('.')}."
        reason = gitcmd.scrub(gitcmd.last_words(stderr), secrets).removeprefix("fatal: ")
        return f"Fetching from {where} failed: {reason.rstrip('.')}."


@dataclass(frozen=True)
class Tree:
    """A commit's files, extracted once from the mirror and read by every rule of every run."""

    mirror: Mirror
    sha: str

    @property
    def path(self) -> Path:
        return self.mirror.home / "trees" / self.sha

    @property
    def lock(self) -> Path:
        return self.mirror.home / "trees" / f"{self.sha}.lock"

    def _complete(self) -> bool:
        # Trees are extracted aside and renamed into place: one that exists is whole.
        return self.path.is_dir()

    @contextmanager
    def reading(self) -> Iterator[Path]:
        """The tree's root, kept from eviction while the caller reads it. A tree evicted since
        the run fetched is extracted again (the commit is fetched again if the mirror lost it)."""
        for _attempt in range(3):
            with locked(self.lock, shared=True):
                if self._complete():
                    _touch(self.lock)
                    yield self.path
                    return
            self.extract()
        raise SourceError(
            f"The tree of commit {self.sha[:12]} keeps being evicted; raise PREFLIGHT_GIT_CACHE_MB."
        )

    def extract(self) -> None:
        with locked(self.lock):
            _touch(self.lock)
            if self._complete():
                return
            if not self.mirror.has_commit(self.sha):
                self.mirror.fetch([self.sha], refs=False)
            scratch = self.path.with_name(f".{self.sha}.{uuid.uuid4().hex[:8]}")
            scratch.mkdir(parents=True)
            try:
                with self.mirror.reading():
                    self._archive_into(scratch)
                (self.path.with_name(f"{self.sha}.size")).write_text(str(_size(scratch)))
                _read_only(scratch)
                scratch.rename(self.path)
            finally:
                if scratch.exists():
                    _writable_then_remove(scratch)

    def _archive_into(self, target: Path) -> None:
        """``git archive`` of the commit, unpacked with tarfile's data filter: nothing lands
        outside ``target`` and no special files are made; a member the filter refuses (a
        symlink out of the tree) is left out rather than failing the whole tree."""
        env = gitcmd.environment(self.mirror.repository, None)
        env["GIT_DIR"] = str(self.mirror.path)
        process = gitcmd.popen(
            [gitcmd.GIT, "archive", "--format=tar", self.sha], env=env, stdout=subprocess.PIPE
        )
        assert process.stdout is not None
        deadline = time.monotonic() + settings.PREFLIGHT_GIT_TIMEOUT_SECONDS
        try:
            _unpack(process.stdout, target, deadline)
        finally:
            process.stdout.close()
            try:
                _, err = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                _, err = process.communicate()
        if process.returncode != 0:
            raise SourceError(
                f"git archive of commit {self.sha[:12]} failed: {gitcmd.last_words(err)}"
            )


def _unpack(stream: IO[bytes], target: Path, deadline: float) -> None:
    def keep(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
        if time.monotonic() > deadline:
            raise SourceError("Extracting the commit's tree took too long.")
        try:
            return tarfile.data_filter(member, dest)
        except tarfile.FilterError:
            return None

    with tarfile.open(fileobj=stream, mode="r|") as archive:
        archive.extractall(target, filter=keep)  # noqa: S202 - the data filter, above


def _read_only(path: Path) -> None:
    """The tree is shared by every run of the commit: no rule may change it."""
    for directory, _dirs, files in os.walk(path, topdown=False):
        for name in files:
            full = os.path.join(directory, name)
            if not os.path.islink(full):
                os.chmod(full, 0o400)
        os.chmod(directory, 0o500)


# Eviction -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    path: Path
    lock: Path
    size: int
    used: float


def _entries() -> list[_Entry]:
    found = []
    root = cache_root()
    if not root.is_dir():
        return []
    for home in sorted(root.iterdir()):
        if home.name.startswith("."):
            continue  # git's HOME, not a project
        mirror = home / "mirror.git"
        if mirror.is_dir():
            found.append(_entry(mirror, home / "mirror.lock", home / "mirror.size"))
        trees = home / "trees"
        if trees.is_dir():
            for tree in sorted(trees.iterdir()):
                if tree.is_dir() and not tree.name.startswith("."):
                    found.append(
                        _entry(tree, trees / f"{tree.name}.lock", trees / f"{tree.name}.size")
                    )
    return found


def _sweep_scratch() -> None:
    """Remove what killed processes left half-extracted or half-removed (dot-named)."""
    root = cache_root()
    if not root.is_dir():
        return
    now = time.time()
    for home in root.iterdir():
        if home.name.startswith("."):
            continue
        for parent in (home, home / "trees"):
            if not parent.is_dir():
                continue
            for leftover in parent.glob(".*"):
                try:
                    stale = now - leftover.stat().st_mtime > STALE_SCRATCH_SECONDS
                except FileNotFoundError:
                    continue
                if leftover.is_dir() and stale:
                    for directory, _dirs, _files in os.walk(leftover):
                        os.chmod(directory, 0o700)
                    shutil.rmtree(leftover, ignore_errors=True)


def _entry(path: Path, lock: Path, size_file: Path) -> _Entry:
    try:
        size = int(size_file.read_text())
    except (OSError, ValueError):
        size = _size(path)
    try:
        used = lock.stat().st_mtime
    except FileNotFoundError:
        used = 0.0
    return _Entry(path, lock, size, used)


def evict(*, keep: set[Path]) -> list[Path]:
    """Remove the least recently used mirrors and trees until the cache fits
    PREFLIGHT_GIT_CACHE_MB, sparing ``keep`` (what the caller is about to read) and whatever
    someone holds a lock on. Returns what it removed."""
    limit = settings.PREFLIGHT_GIT_CACHE_MB * 1024 * 1024
    _sweep_scratch()
    entries = _entries()
    total = sum(e.size for e in entries)
    removed = []
    for entry in sorted(entries, key=lambda e: e.used):
        if total <= limit:
            break
        if entry.path in keep:
            continue
        with locked(entry.lock, wait=False) as held:
            if not held:
                continue
            _writable_then_remove(entry.path)
            entry.path.with_name(
                "mirror.size" if entry.path.name == "mirror.git" else f"{entry.path.name}.size"
            ).unlink(missing_ok=True)
        total -= entry.size
        removed.append(entry.path)
        log.info("git cache: evicted %s (%d bytes)", entry.path, entry.size)
    return removed
