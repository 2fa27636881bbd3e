"""The Liquor POS sources as a real git repository: the sample trees shipped with the demo,
committed as 1.0.0 and then 1.1.0 on ``main``. Only 1.1.0 is tagged (``v1.1.0``): the review
found that 1.0.0 had no version tag (DS-005, "No deployment versioning/tagging"), and 1.1.0's
deploy.sh and pipeline tag what they ship.

The repository is written with ``git fast-import`` from a stream built here, with fixed authors,
dates and file modes, so the same shipped files always give the same commits: loading the demo
again, or in a test, finds the repository already there and its commits unchanged. It is built
beside its final place and renamed into it, so a reader never sees half a repository."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

TREES = Path(__file__).with_name("liquor-pos")
BRANCH = "main"
AUTHOR = "Dana Diaz <dana@liquor-pos.example>"
# (version, commit time (Unix, UTC), message, tagged): around the review of 2026-01-05, in order.
COMMITS = (
    (
        "1.0.0",
        1767196800,  # 2025-12-31 16:00 UTC
        "Liquor POS 1.0.0: inventory sync, audit log, nightly backups",
        False,
    ),
    (
        "1.1.0",
        1768561200,  # 2026-01-16 11:00 UTC
        "Liquor POS 1.1.0: close the readiness review's gaps\n\n"
        "deploy.ps1, a CI pipeline that tests before it deploys, blue-green deployment, rollback\n"
        "SQL for every migration, Docker secrets and resource limits, smoke tests.",
        True,
    ),
)
# The file that records which stream built the repository (the stream's sha256).
STAMP = "preflight-demo.sha256"


@dataclass(frozen=True)
class Repository:
    path: Path
    commits: dict[str, str]  # version → commit sha

    def tag(self, version: str) -> str:
        return f"v{version}"


def _mode(path: Path) -> str:
    return "100755" if path.suffix == ".sh" else "100644"


def _data(payload: bytes) -> bytes:
    return b"data %d\n" % len(payload) + payload + b"\n"


def fast_import_stream() -> bytes:
    """The whole history as a fast-import stream: every file of each shipped tree, as it is."""
    out: list[bytes] = []
    marks: dict[bytes, int] = {}
    trees: list[list[tuple[str, str, int]]] = []
    for version, *_ in COMMITS:
        root = TREES / version
        entries = []
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            content = path.read_bytes()
            mark = marks.get(content)
            if mark is None:
                mark = marks[content] = len(marks) + 1
                out.append(b"blob\nmark :%d\n" % mark + _data(content))
            entries.append((_mode(path), path.relative_to(root).as_posix(), mark))
        trees.append(entries)
    commit_mark = 1_000_000
    for (version, when, message, tagged), entries in zip(COMMITS, trees, strict=True):
        commit_mark += 1
        identity = f"{AUTHOR} {when} +0000".encode()
        out.append(
            b"commit refs/heads/%s\nmark :%d\nauthor %s\ncommitter %s\n"
            % (BRANCH.encode(), commit_mark, identity, identity)
        )
        out.append(_data(message.encode()))
        if commit_mark > 1_000_001:
            out.append(b"from :%d\n" % (commit_mark - 1))
        out.append(b"deleteall\n")
        out.extend(b"M %s :%d %s\n" % (m.encode(), mark, p.encode()) for m, p, mark in entries)
        out.append(b"\n")
        if tagged:
            out.append(
                b"tag v%s\nfrom :%d\ntagger %s\n" % (version.encode(), commit_mark, identity)
            )
            out.append(_data(f"Liquor POS {version}".encode()))
    return b"".join(out)


def _git(*args: str, cwd: Path | None = None, stdin: bytes | None = None) -> str:
    # Nobody's own git configuration (hooks, signing, default branch) may change what is built.
    env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
    }
    result = subprocess.run(  # noqa: S603 - git with arguments of our own
        ["git", *args],  # noqa: S607 - git is found on PATH like any tool of the machine
        cwd=cwd,
        input=stdin,
        capture_output=True,
        env=env,
        check=True,
    )
    return result.stdout.decode().strip()


def _commits(path: Path) -> dict[str, str]:
    shas = _git("--git-dir", str(path), "rev-list", "--reverse", BRANCH).split()
    return {version: sha for (version, *_), sha in zip(COMMITS, shas, strict=True)}


def build(path: Path) -> Repository:
    """The demo's repository at ``path`` (a bare repository), built unless it is already there
    and was built from the same files."""
    stream = fast_import_stream()
    stamp = hashlib.sha256(stream).hexdigest()
    if (path / STAMP).is_file() and (path / STAMP).read_text().strip() == stamp:
        return Repository(path=path, commits=_commits(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    try:
        _git("init", "--quiet", "--bare", f"--initial-branch={BRANCH}", str(building))
        _git("--git-dir", str(building), "fast-import", "--quiet", stdin=stream)
        (building / STAMP).write_text(stamp + "\n")
        if path.exists():
            shutil.rmtree(path)  # built from other files: the shipped trees changed
        try:
            building.rename(path)
        except OSError:
            # Another process put the same repository there meanwhile; theirs will do.
            if not (path / STAMP).is_file():
                raise
    finally:
        if building.exists():
            shutil.rmtree(building)
    return Repository(path=path, commits=_commits(path))
