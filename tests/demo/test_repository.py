"""The demo's git repository: the shipped trees as commits of the releases, built the same way
every time, with 1.1.0 tagged and nothing before it."""

from __future__ import annotations

import subprocess

from demo import repository


def git(path, *args):  # type: ignore[no-untyped-def]
    return subprocess.run(
        ["git", "--git-dir", str(path), *args], capture_output=True, text=True, check=True
    ).stdout.split()


def test_the_releases_are_commits_in_order_and_only_1_1_0_is_tagged(tmp_path):
    built = repository.build(tmp_path / "pos.git")
    assert list(built.commits) == ["0.9.0", "0.9.1", "0.9.2", "0.9.3", "1.0.0", "1.1.0"]
    assert git(built.path, "rev-list", "--reverse", "main") == list(built.commits.values())
    assert git(built.path, "tag") == ["v1.1.0"]
    assert git(built.path, "rev-parse", "v1.1.0^{commit}") == [built.commits["1.1.0"]]
    # Each release holds the tree shipped for it; the 0.9 releases lack the later migrations.
    files = {
        v: set(git(built.path, "ls-tree", "-r", "--name-only", sha))
        for v, sha in built.commits.items()
    }
    assert "deploy.ps1" in files["1.1.0"]
    assert "deploy.ps1" not in files["1.0.0"]
    assert "backend/prisma/migrations/20251110_audit_log/migration.sql" in files["1.0.0"]
    assert "backend/prisma/migrations/20251110_audit_log/migration.sql" not in files["0.9.3"]
    assert "backend/prisma/migrations/20251020_sales/migration.sql" in files["0.9.3"]
    listing = subprocess.run(
        ["git", "--git-dir", str(built.path), "ls-tree", "-r", built.commits["1.1.0"]],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    modes = {}
    for line in listing.splitlines():
        meta, path = line.split("\t")
        modes[path] = meta.split()[0]
    assert modes["deploy.sh"] == "100755"
    assert modes["docker-compose.yml"] == "100644"


def test_building_again_keeps_the_repository_and_its_commits(tmp_path):
    first = repository.build(tmp_path / "pos.git")
    marker = first.path / "kept"
    marker.write_text("")
    again = repository.build(tmp_path / "pos.git")
    assert again.commits == first.commits
    assert marker.exists()  # not rebuilt
    # Elsewhere, from the same files: the same commits.
    assert repository.build(tmp_path / "other.git").commits == first.commits


def test_a_repository_built_from_other_files_is_replaced(tmp_path):
    first = repository.build(tmp_path / "pos.git")
    (first.path / repository.STAMP).write_text("built from other files\n")
    again = repository.build(tmp_path / "pos.git")
    assert again.commits == first.commits
    assert (again.path / repository.STAMP).read_text().strip() != "built from other files"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # nothing left behind
