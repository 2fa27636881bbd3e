"""The Liquor POS sources as a real git repository: the sample trees shipped with the demo,
committed in the order of the releases on ``main``. The 0.9 releases are the 1.0.0 tree as it
grew, one migration at a time; 1.0.0 and 1.1.0 are the shipped trees. Only 1.1.0 is tagged
(``v1.1.0``): the review found that releases carried no version tag (DS-005, "No deployment
versioning/tagging"), and 1.1.0's deploy.sh and pipeline tag what they ship.

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
MIGRATIONS = "backend/prisma/migrations/"


@dataclass(frozen=True)
class Commit:
    version: str
    when: int  # Unix time, UTC
    message: str
    tree: str  # the shipped tree it is made of
    # Migrations the release did not have yet (it is the tree as it was before them).
    without: tuple[str, ...] = ()
    tagged: bool = False

    def holds(self, path: str) -> bool:
        return not any(path.startswith(MIGRATIONS + m + "/") for m in self.without)


COMMITS = (
    Commit(
        "0.9.0",
        1759507200,  # 2025-10-03 16:00 UTC
        "Liquor POS 0.9.0: Florida excise tax tables; card reader driver update",
        "1.0.0",
        without=("20251001_inventory", "20251020_sales", "20251110_audit_log"),
    ),
    Commit(
        "0.9.1",
        1761321600,  # 2025-10-24 16:00 UTC
        "Liquor POS 0.9.1: loyalty points at checkout",
        "1.0.0",
        without=("20251020_sales", "20251110_audit_log"),
    ),
    Commit(
        "0.9.2",
        1762531200,  # 2025-11-07 16:00 UTC
        "Liquor POS 0.9.2: round loyalty points on refunds",
        "1.0.0",
        without=("20251020_sales", "20251110_audit_log"),
    ),
    Commit(
        "0.9.3",
        1763740800,  # 2025-11-21 16:00 UTC
        "Liquor POS 0.9.3: age verification prompt for spirits over 40% ABV",
        "1.0.0",
        without=("20251110_audit_log",),
    ),
    Commit(
        "1.0.0",
        1767196800,  # 2025-12-31 16:00 UTC
        "Liquor POS 1.0.0: inventory sync, audit log, nightly backups",
        "1.0.0",
    ),
    Commit(
        "1.1.0",
        1768561200,  # 2026-01-16 11:00 UTC
        "Liquor POS 1.1.0: close the readiness review's gaps\n\n"
        "deploy.ps1, a CI pipeline that tests before it deploys, blue-green deployment, rollback\n"
        "SQL for every migration, Docker secrets and resource limits, smoke tests.",
        "1.1.0",
        tagged=True,
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
    """The whole history as a fast-import stream: every file of each commit's tree, as shipped."""
    out: list[bytes] = []
    marks: dict[bytes, int] = {}
    trees: list[list[tuple[str, str, int]]] = []
    for commit in COMMITS:
        root = TREES / commit.tree
        entries = []
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            relative = path.relative_to(root).as_posix()
            if not commit.holds(relative):
                continue
            content = path.read_bytes()
            mark = marks.get(content)
            if mark is None:
                mark = marks[content] = len(marks) + 1
                out.append(b"blob\nmark :%d\n" % mark + _data(content))
            entries.append((_mode(path), relative, mark))
        trees.append(entries)
    first = 1_000_000
    for number, (commit, entries) in enumerate(zip(COMMITS, trees, strict=True)):
        mark = first + number
        identity = f"{AUTHOR} {commit.when} +0000".encode()
        out.append(
            b"commit refs/heads/%s\nmark :%d\nauthor %s\ncommitter %s\n"
            % (BRANCH.encode(), mark, identity, identity)
        )
        out.append(_data(commit.message.encode()))
        if number:
            out.append(b"from :%d\n" % (mark - 1))
        out.append(b"deleteall\n")
        out.extend(b"M %s :%d %s\n" % (m.encode(), blob, p.encode()) for m, p, blob in entries)
        out.append(b"\n")
        if commit.tagged:
            out.append(
                b"tag v%s\nfrom :%d\ntagger %s\n" % (commit.version.encode(), mark, identity)
            )
            out.append(_data(f"Liquor POS {commit.version}".encode()))
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
    return {commit.version: sha for commit, sha in zip(COMMITS, shas, strict=True)}


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
