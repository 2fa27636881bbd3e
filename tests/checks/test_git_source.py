"""The release's source from git: repository checks judge the release's commit, fetched from a
real repository the test makes, on this machine or over git's smart HTTP with a token."""

from __future__ import annotations

import logging
import secrets
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from checks.kinds import ConfigError, get_kind
from checks.kinds.base import VerifiedRelease
from checks.kinds.repository import evaluate
from checks.kinds.repository.source import SourceError, checkout
from checks.kinds.repository.source.cache import Mirror, locked
from checks.kinds.repository.source.config import Repository, validate_repository

from .conftest import context, subprocess_env
from .git_repos import GitHTTPServer, Origin, git

TOKEN = "s3cr3t-t0ken-4f9a2c"

DEPLOY_SLEEPING = (
    "#!/bin/sh\nset -e\ndocker compose up -d\nsleep 30\ncurl -f http://localhost/health\n"
)
DEPLOY_POLLING = (
    "#!/bin/sh\nset -e\ndocker compose up -d\n"
    "until curl -fs http://localhost/health; do sleep 2; done\n"
)


@pytest.fixture
def repos(tmp_path, settings) -> Path:  # type: ignore[no-untyped-def]
    """Where local repositories may be (PREFLIGHT_REPOSITORY_ROOT), with a cache of its own."""
    root = tmp_path / "repos"
    root.mkdir()
    settings.PREFLIGHT_REPOSITORY_ROOT = root
    settings.PREFLIGHT_GIT_CACHE_DIR = tmp_path / "git-cache"
    settings.PREFLIGHT_GIT_TIMEOUT_SECONDS = 30
    return root


@pytest.fixture
def origin(repos) -> Origin:  # type: ignore[no-untyped-def]
    return Origin(repos)


@pytest.fixture
def http(repos):  # type: ignore[no-untyped-def]
    with GitHTTPServer(repos, token=TOKEN) as server:
        yield server


def judge(rule: str, sha: str, repository: dict, **config):  # type: ignore[no-untyped-def,type-arg]
    return evaluate(
        context(
            "repository",
            {"rule": rule, **config},
            git_sha=sha,
            repository=validate_repository(repository),
        )
    )


# The commit's tree -----------------------------------------------------------------------


def test_a_rule_judges_the_commits_tree_naming_file_and_line(origin):
    sha = origin.commit({"deploy.sh": DEPLOY_SLEEPING})
    outcome = judge("no_fixed_sleeps", sha, {"url": str(origin.bare)})
    assert outcome.status == "fail"
    assert "deploy.sh:4: sleep 30" in outcome.detail


def test_the_fix_in_a_later_commit_passes_while_the_earlier_commit_still_fails(origin):
    before = origin.commit({"deploy.sh": DEPLOY_SLEEPING})
    after = origin.commit({"deploy.sh": DEPLOY_POLLING}, "poll instead of sleeping")
    repository = {"url": str(origin.bare)}
    assert judge("no_fixed_sleeps", after, repository).status == "pass"
    assert judge("no_fixed_sleeps", before, repository).status == "fail"


def test_path_is_a_directory_of_the_commits_tree(origin):
    sha = origin.commit({"services/api/deploy.sh": DEPLOY_SLEEPING, "deploy.sh": DEPLOY_POLLING})
    repository = {"url": str(origin.bare)}
    inner = judge("no_fixed_sleeps", sha, repository, path="services/api")
    assert inner.status == "fail"
    assert "deploy.sh:4" in inner.detail
    assert "services/" not in inner.detail
    missing = judge("file_exists", sha, repository, path="services/web", files=["x"])
    assert missing.status == "error"
    assert missing.detail == f"No directory services/web in commit {sha[:12]}'s tree."


def test_the_tree_is_the_commit_not_the_working_files(origin):
    """What was committed is judged, not what lies around the repository."""
    sha = origin.commit({"deploy.sh": DEPLOY_POLLING})
    (origin.work / "deploy.sh").write_text(DEPLOY_SLEEPING)  # uncommitted
    assert judge("no_fixed_sleeps", sha, {"url": str(origin.work)}).status == "pass"


def test_the_commits_tree_is_read_only(origin, repos):
    """No write permission anywhere in it (the test may run as root, who would write anyway)."""
    sha = origin.commit({"deploy.sh": DEPLOY_POLLING, "db/001.sql": "select 1;"})
    fetched = checkout(
        project="shop", repository=validate_repository({"url": str(origin.bare)}), sha=sha
    )
    with fetched.tree.reading() as root:
        modes = {
            p.relative_to(root).as_posix(): stat.S_IMODE(p.stat().st_mode)
            for p in [root, *root.rglob("*")]
        }
        assert set(modes) == {".", "deploy.sh", "db", "db/001.sql"}
        assert all(mode & 0o222 == 0 for mode in modes.values()), modes
        assert (root / "deploy.sh").read_text() == DEPLOY_POLLING


def test_a_symlink_out_of_the_tree_is_left_out(origin, repos):
    (repos / "secret.txt").write_text("outside")
    (origin.work / "link.txt").symlink_to("../../secret.txt")
    sha = origin.commit({"README.md": "hi"})
    outcome = judge("file_exists", sha, {"url": str(origin.bare)}, files=["link.txt"])
    assert outcome.status == "fail"


def test_a_file_url_works_as_a_path_does(origin):
    sha = origin.commit({"deploy.sh": DEPLOY_POLLING})
    assert judge("no_fixed_sleeps", sha, {"url": f"file://{origin.bare}"}).status == "pass"


def test_a_relative_path_is_taken_from_the_repository_root(origin):
    sha = origin.commit({"deploy.sh": DEPLOY_POLLING})
    assert judge("no_fixed_sleeps", sha, {"url": "pos.git"}).status == "pass"


# Over HTTP, with a credential --------------------------------------------------------------


def test_over_http_with_a_bearer_token(origin, http, monkeypatch):
    monkeypatch.setenv("POS_GIT_TOKEN", TOKEN)
    sha = origin.commit({"deploy.sh": DEPLOY_SLEEPING})
    outcome = judge(
        "no_fixed_sleeps", sha, {"url": http.url("pos.git"), "credentials_env": "POS_GIT_TOKEN"}
    )
    assert outcome.status == "fail"
    assert "deploy.sh:4" in outcome.detail
    assert any(r.get("Authorization") == f"Bearer {TOKEN}" for r in http.requests)


def test_over_http_with_user_and_token_as_basic_credentials(origin, repos, monkeypatch):
    monkeypatch.setenv("POS_GIT_TOKEN", f"ci-bot:{TOKEN}")
    sha = origin.commit({"deploy.sh": DEPLOY_POLLING})
    with GitHTTPServer(repos, token=TOKEN, user="ci-bot") as server:
        outcome = judge(
            "no_fixed_sleeps",
            sha,
            {"url": server.url("pos.git"), "credentials_env": "POS_GIT_TOKEN"},
        )
    assert outcome.status == "pass"


def test_a_wrong_token_is_an_error_in_one_line_without_the_token(origin, http, monkeypatch, caplog):
    wrong = "wr0ng-t0ken-77e1b3"
    monkeypatch.setenv("POS_GIT_TOKEN", wrong)
    sha = origin.commit({"deploy.sh": DEPLOY_POLLING})
    with caplog.at_level(logging.DEBUG):
        outcome = judge(
            "no_fixed_sleeps", sha, {"url": http.url("pos.git"), "credentials_env": "POS_GIT_TOKEN"}
        )
    assert outcome.status == "error"
    assert (
        outcome.detail
        == f"The repository {http.url('pos.git')} refused the credential in POS_GIT_TOKEN."
    )
    assert wrong not in caplog.text
    assert TOKEN not in caplog.text


def test_no_credential_where_one_is_needed_says_to_name_one(origin, http):
    sha = origin.commit({"deploy.sh": DEPLOY_POLLING})
    outcome = judge("no_fixed_sleeps", sha, {"url": http.url("pos.git")})
    assert outcome.status == "error"
    assert "asks for a credential" in outcome.detail
    assert "credentials_env" in outcome.detail


def test_an_unset_credential_variable_is_an_error_naming_it(origin, http, monkeypatch):
    monkeypatch.delenv("POS_GIT_TOKEN", raising=False)
    sha = origin.commit({"deploy.sh": DEPLOY_POLLING})
    outcome = judge(
        "no_fixed_sleeps", sha, {"url": http.url("pos.git"), "credentials_env": "POS_GIT_TOKEN"}
    )
    assert outcome.status == "error"
    assert outcome.detail == (
        "The environment variable POS_GIT_TOKEN named as the repository's credential is not set."
    )


def test_an_unreachable_remote_is_an_error_in_one_line(origin):
    sha = origin.commit({"deploy.sh": DEPLOY_POLLING})
    outcome = judge("no_fixed_sleeps", sha, {"url": "http://127.0.0.1:9/pos.git"})
    assert outcome.status == "error"
    assert outcome.detail.startswith(
        "The repository http://127.0.0.1:9/pos.git is unreachable: unable to access"
    )
    assert "\n" not in outcome.detail


def test_a_path_without_a_repository_is_an_error(repos):
    (repos / "empty").mkdir()
    outcome = judge("file_exists", "a" * 40, {"url": "empty"}, files=["x"])
    assert outcome.status == "error"
    assert outcome.detail == "No git repository at empty."


# Commits that cannot be found ----------------------------------------------------------------


def test_a_commit_the_repository_does_not_have_is_an_error(origin):
    origin.commit({"deploy.sh": DEPLOY_POLLING})
    unknown = "0123456789abcdef0123456789abcdef01234567"
    outcome = judge("no_fixed_sleeps", unknown, {"url": str(origin.bare)})
    assert outcome.status == "error"
    assert outcome.detail == f"Commit 0123456789ab is not in {origin.bare}."


def test_a_missing_commit_over_http_is_the_same_error(origin, http, monkeypatch):
    monkeypatch.setenv("POS_GIT_TOKEN", TOKEN)
    origin.commit({"deploy.sh": DEPLOY_POLLING})
    unknown = "0123456789abcdef0123456789abcdef01234567"
    url = http.url("pos.git")
    outcome = judge("no_fixed_sleeps", unknown, {"url": url, "credentials_env": "POS_GIT_TOKEN"})
    assert (outcome.status, outcome.detail) == ("error", f"Commit 0123456789ab is not in {url}.")


def test_a_short_commit_id_is_an_error(origin):
    sha = origin.commit({"deploy.sh": DEPLOY_POLLING})
    outcome = judge("no_fixed_sleeps", sha[:7], {"url": str(origin.bare)})
    assert outcome.status == "error"
    assert "not a full commit id" in outcome.detail


# The mirror: fetched once, shared, safe --------------------------------------------------------


def test_a_later_run_reuses_the_mirror_and_fetches_only_what_is_new(origin, http, monkeypatch):
    monkeypatch.setenv("POS_GIT_TOKEN", TOKEN)
    repository = {"url": http.url("pos.git"), "credentials_env": "POS_GIT_TOKEN"}
    first = origin.commit({"deploy.sh": DEPLOY_SLEEPING})
    judge("no_fixed_sleeps", first, repository)
    second = origin.commit({"deploy.sh": DEPLOY_POLLING})
    http.requests.clear()
    assert judge("no_fixed_sleeps", second, repository).status == "pass"
    mirror = Mirror("shop", Repository.from_config(validate_repository(repository)))
    assert mirror.has_commit(first)
    assert mirror.has_commit(second)
    # One fetch: the refs advertised, then one pack negotiated (no clone from scratch).
    posts = [
        r for r in http.requests if "git-upload-pack" in r["path"] and "service=" not in r["path"]
    ]
    assert 1 <= len(posts) <= 3


def test_the_checks_of_one_run_share_one_fetch(origin, http, monkeypatch):
    monkeypatch.setenv("POS_GIT_TOKEN", TOKEN)
    sha = origin.commit({"deploy.sh": DEPLOY_POLLING})
    repository = validate_repository(
        {"url": http.url("pos.git"), "credentials_env": "POS_GIT_TOKEN"}
    )
    barrier = threading.Barrier(8)
    results = []

    def one_check() -> None:
        barrier.wait()
        results.append(checkout(project="shop", repository=repository, sha=sha, run_id=4242))

    threads = [threading.Thread(target=one_check) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(r) for r in results}) == 1
    advertisements = [r for r in http.requests if "service=git-upload-pack" in r["path"]]
    assert len(advertisements) == 1


def test_two_runs_fetching_at_once_both_get_the_commit(origin, http, monkeypatch):
    monkeypatch.setenv("POS_GIT_TOKEN", TOKEN)
    shas = [origin.commit({"deploy.sh": f"echo {n}\n"}) for n in range(3)]
    repository = validate_repository(
        {"url": http.url("pos.git"), "credentials_env": "POS_GIT_TOKEN"}
    )
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        barrier.wait()
        try:
            fetched = checkout(project="shop", repository=repository, sha=shas[n % 3], run_id=n)
            with fetched.tree.reading() as root:
                assert (root / "deploy.sh").read_text() == f"echo {n % 3}\n"
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    mirror = Mirror("shop", Repository.from_config(repository))
    git("fsck", "--no-progress", cwd=mirror.path)


def test_a_fetch_waits_for_the_one_holding_the_mirror(origin):
    """Two worker processes share the cache: the mirror's file lock makes a second fetch wait."""
    sha = origin.commit({"deploy.sh": DEPLOY_POLLING})
    repository = validate_repository({"url": str(origin.bare)})
    mirror = Mirror("shop", Repository.from_config(repository))
    done = threading.Event()

    def fetch() -> None:
        checkout(project="shop", repository=repository, sha=sha)
        done.set()

    with locked(mirror.lock):
        thread = threading.Thread(target=fetch)
        thread.start()
        assert not done.wait(0.5)
    thread.join(30)
    assert done.is_set()


def test_the_cache_evicts_what_was_used_least_recently(repos, settings):
    settings.PREFLIGHT_GIT_CACHE_MB = 1
    big = "x" * 400_000 + "\n"
    origins = {name: Origin(repos, f"{name}.git") for name in ("a", "b", "c")}
    fetched = {}
    for name, repo in origins.items():
        # Random content: a pack does not compress it away.
        sha = repo.commit({"blob.txt": secrets.token_hex(200_000), "big.txt": big})
        fetched[name] = checkout(
            project=name, repository=validate_repository({"url": str(repo.bare)}), sha=sha
        )
    cache = Path(settings.PREFLIGHT_GIT_CACHE_DIR)
    left = sorted(
        p.name.split("-")[0]
        for p in cache.iterdir()
        if not p.name.startswith(".") and (p / "mirror.git").exists()
    )
    trees = sorted(
        p.parent.parent.name.split("-")[0] for p in cache.glob("*/trees/*") if p.is_dir()
    )
    assert "c" in left
    assert "c" in trees
    assert "a" not in left
    assert "a" not in trees
    # An evicted tree comes back when read again.
    with fetched["a"].tree.reading() as root:
        assert (root / "big.txt").read_text() == big


def test_a_tree_in_use_is_not_evicted(repos, settings):
    settings.PREFLIGHT_GIT_CACHE_MB = 1
    a, b = Origin(repos, "a.git"), Origin(repos, "b.git")
    sha_a = a.commit({"blob.txt": secrets.token_hex(400_000)})
    first = checkout(project="a", repository=validate_repository({"url": str(a.bare)}), sha=sha_a)
    with first.tree.reading() as root:
        sha_b = b.commit({"blob.txt": secrets.token_hex(400_000)})
        checkout(project="b", repository=validate_repository({"url": str(b.bare)}), sha=sha_b)
        assert (root / "blob.txt").exists()


# Force-pushed branches ---------------------------------------------------------------------------


def test_a_force_pushed_commit_is_still_fetched_by_id_until_the_host_prunes_it(origin):
    """git serves a commit by its id while it still has the object, even when no branch holds it
    any more; once the host's garbage collection removed it, the commit is not found."""
    base = origin.commit({"deploy.sh": DEPLOY_POLLING})
    orphan = origin.commit({"deploy.sh": DEPLOY_SLEEPING}, "to be rewritten")
    origin.reset_hard(base)
    origin.commit({"deploy.sh": DEPLOY_POLLING + "# rewritten\n"}, push=False)
    origin.push(force=True)
    repository = {"url": str(origin.bare)}
    assert judge("no_fixed_sleeps", orphan, repository).status == "fail"  # still fetchable
    assert judge("on_branch", orphan, repository).status == "fail"
    origin.prune_unreachable()
    # A fresh cache (another machine) can no longer get it.
    outcome = evaluate(
        context(
            "repository",
            {"rule": "no_fixed_sleeps"},
            git_sha=orphan,
            repository=validate_repository(repository),
            project_slug="elsewhere",
        )
    )
    assert (outcome.status, outcome.detail) == (
        "error",
        f"Commit {orphan[:12]} is not in {origin.bare}.",
    )
    # The mirror that fetched it before keeps it (by a ref of its own): the tree is still judged.
    assert judge("no_fixed_sleeps", orphan, repository).status == "fail"


# The repository block -------------------------------------------------------------------------


def test_the_block_gets_its_defaults(repos):
    assert validate_repository({"url": "https://git.example.com/pos.git"}) == {
        "url": "https://git.example.com/pos.git",
        "default_branch": "main",
        "tag_pattern": "v{version}",
    }


@pytest.mark.parametrize(
    ("block", "field", "says"),
    [
        ({}, "repository.url", "is required"),
        ({"url": "https://git.example.com/pos.git", "token": "x"}, "repository.token", "unknown"),
        (
            {"url": "https://bot:hunter2@git.example.com/pos.git"},
            "repository.url",
            "credentials_env",
        ),
        ({"url": "http://git.example.com/pos.git"}, "repository.url", "only to this machine"),
        ({"url": "git://git.example.com/pos.git"}, "repository.url", "use https://"),
        ({"url": "ext::sh -c touch% /tmp/x"}, "repository.url", ""),
        ({"url": "git@git.example.com:pos.git"}, "repository.url", "ssh://"),
        ({"url": "/etc"}, "repository.url", "PREFLIGHT_REPOSITORY_ROOT"),
        ({"url": "../outside"}, "repository.url", "PREFLIGHT_REPOSITORY_ROOT"),
        ({"url": "-uhack"}, "repository.url", ""),
        (
            {"url": "https://h/p.git", "credentials_env": "DATABASE_URL"},
            "repository.credentials_env",
            "Preflight's own",
        ),
        (
            {"url": "https://h/p.git", "credentials_env": "PREFLIGHT_WEBHOOK_KEY"},
            "repository.credentials_env",
            "Preflight's own",
        ),
        (
            {"url": "https://h/p.git", "credentials_env": "lower"},
            "repository.credentials_env",
            "name the environment variable",
        ),
        (
            {"url": "pos.git", "credentials_env": "POS_GIT_TOKEN"},
            "repository.credentials_env",
            "needs no credential",
        ),
        (
            {"url": "https://h/p.git", "default_branch": "-x"},
            "repository.default_branch",
            "branch name",
        ),
        (
            {"url": "https://h/p.git", "tag_pattern": "release"},
            "repository.tag_pattern",
            "{version}",
        ),
        (
            {"url": "https://h/p.git", "tag_pattern": "v{version}-{git_sha}"},
            "repository.tag_pattern",
            "{version}",
        ),
    ],
)
def test_a_bad_block_is_refused_naming_the_field(repos, block, field, says):
    with pytest.raises(ConfigError) as refused:
        validate_repository(block)
    assert refused.value.field == field
    assert says in refused.value.message


@pytest.mark.parametrize(
    "url",
    [
        "https://git.example.com/team/pos.git",
        "ssh://git@git.example.com/team/pos.git",
        "ssh://git@git.example.com:2222/team/pos.git",
        "http://127.0.0.1:8080/pos.git",
        "http://localhost/pos.git",
        "pos.git",
        "file:///{root}/pos.git",
    ],
)
def test_good_urls_are_accepted(repos, url):
    validate_repository(
        {"url": url.format(root=str(repos).lstrip("/")), "tag_pattern": "{version}"}
    )


def test_a_local_repository_found_outside_the_root_at_run_time_is_an_error(
    origin, settings, tmp_path
):
    sha = origin.commit({"deploy.sh": DEPLOY_POLLING})
    repository = validate_repository({"url": str(origin.bare)})
    settings.PREFLIGHT_REPOSITORY_ROOT = tmp_path / "elsewhere"
    (tmp_path / "elsewhere").mkdir()
    outcome = evaluate(
        context("repository", {"rule": "no_fixed_sleeps"}, git_sha=sha, repository=repository)
    )
    assert outcome.status == "error"
    assert "PREFLIGHT_REPOSITORY_ROOT" in outcome.detail


def test_an_ssh_repository_needs_a_known_hosts_file(origin, settings):
    settings.PREFLIGHT_GIT_KNOWN_HOSTS = ""
    outcome = judge("file_exists", "a" * 40, {"url": "ssh://git@127.0.0.1:9/pos.git"}, files=["x"])
    assert outcome.status == "error"
    assert "PREFLIGHT_GIT_KNOWN_HOSTS" in outcome.detail


def test_an_unreachable_ssh_host_is_an_error_without_hanging(
    repos, settings, tmp_path, monkeypatch
):
    known = tmp_path / "known_hosts"
    known.write_text("")
    key = tmp_path / "id_ed25519"
    key.write_text("not really a key\n")
    key.chmod(0o600)
    settings.PREFLIGHT_GIT_KNOWN_HOSTS = str(known)
    monkeypatch.setenv("POS_GIT_KEY", str(key))
    outcome = judge(
        "file_exists",
        "a" * 40,
        {"url": "ssh://git@127.0.0.1:9/pos.git", "credentials_env": "POS_GIT_KEY"},
        files=["x"],
    )
    assert outcome.status == "error"
    assert outcome.detail == (
        "The repository ssh://git@127.0.0.1:9/pos.git is unreachable: "
        "ssh: connect to host 127.0.0.1 port 9: Connection refused."
    )


def test_source_errors_are_single_lines(origin):
    with pytest.raises(SourceError) as failed:
        checkout(
            project="shop", repository=validate_repository({"url": str(origin.bare)}), sha="f" * 40
        )
    assert "\n" not in str(failed.value)


# Git facts as rules -------------------------------------------------------------------------------


def fact(
    rule: str,
    sha: str,
    origin: Origin,
    *,
    version: str = "1.4.2",
    verified=None,
    repository=None,
    **config,
):  # type: ignore[no-untyped-def]
    return evaluate(
        context(
            "repository",
            {"rule": rule, **config},
            git_sha=sha,
            version=version,
            repository=validate_repository(repository or {"url": str(origin.bare)}),
            verified=verified,
        )
    )


@pytest.mark.parametrize("annotated", [True, False])
def test_the_versions_tag_pointing_at_the_commit_passes(origin, annotated):
    sha = origin.commit({"deploy.sh": DEPLOY_POLLING})
    origin.tag("v1.4.2", sha, annotated=annotated)
    outcome = fact("tag_points_at_release", sha, origin)
    assert (outcome.status, outcome.detail) == ("pass", f"Tag v1.4.2 points at {sha[:12]}.")


def test_a_missing_tag_fails_naming_the_tags_the_commit_has(origin):
    sha = origin.commit({"deploy.sh": DEPLOY_POLLING})
    origin.tag("1.4.2-rc1", sha)
    outcome = fact("tag_points_at_release", sha, origin)
    assert outcome.status == "fail"
    assert outcome.detail == f"No tag v1.4.2 in the repository (tags at {sha[:12]}: 1.4.2-rc1)."


def test_a_tag_on_another_commit_fails(origin):
    tagged = origin.commit({"deploy.sh": DEPLOY_SLEEPING})
    origin.tag("v1.4.2", tagged)
    released = origin.commit({"deploy.sh": DEPLOY_POLLING})
    outcome = fact("tag_points_at_release", released, origin)
    assert outcome.status == "fail"
    assert outcome.detail == (
        f"Tag v1.4.2 points at {tagged[:12]}, not at the release's commit {released[:12]}."
    )


def test_a_tag_pattern_without_v(origin):
    sha = origin.commit({"deploy.sh": DEPLOY_POLLING})
    origin.tag("1.4.2", sha)
    repository = {"url": str(origin.bare), "tag_pattern": "{version}"}
    assert fact("tag_points_at_release", sha, origin, repository=repository).status == "pass"
    assert fact("tag_points_at_release", sha, origin).status == "fail"  # v1.4.2 does not exist


def test_a_tag_moved_on_the_remote_is_seen_by_the_next_run(origin):
    first = origin.commit({"deploy.sh": DEPLOY_SLEEPING})
    origin.tag("v1.4.2", first)
    assert fact("tag_points_at_release", first, origin).status == "pass"
    second = origin.commit({"deploy.sh": DEPLOY_POLLING})
    git("tag", "--force", "-a", "-m", "moved", "v1.4.2", second, cwd=origin.work)
    git("push", "--quiet", "--force", "origin", "refs/tags/v1.4.2", cwd=origin.work)
    assert fact("tag_points_at_release", first, origin).status == "fail"
    assert fact("tag_points_at_release", second, origin).status == "pass"


def test_a_commit_on_the_default_branch_passes(origin):
    older = origin.commit({"deploy.sh": DEPLOY_SLEEPING})
    origin.commit({"deploy.sh": DEPLOY_POLLING})
    outcome = fact("on_branch", older, origin)
    assert (outcome.status, outcome.detail) == ("pass", f"Commit {older[:12]} is on main.")


def test_a_commit_only_on_a_feature_branch_fails(origin):
    origin.commit({"deploy.sh": DEPLOY_POLLING})
    git("checkout", "--quiet", "-b", "feature", cwd=origin.work)
    unmerged = origin.commit({"deploy.sh": DEPLOY_SLEEPING}, push=False)
    git("push", "--quiet", "origin", "feature", cwd=origin.work)
    outcome = fact("on_branch", unmerged, origin)
    assert outcome.status == "fail"
    assert outcome.detail == (
        f"Commit {unmerged[:12]} is not on main: the released code was never merged, "
        "or main was rewritten since."
    )
    repository = {"url": str(origin.bare), "default_branch": "feature"}
    assert fact("on_branch", unmerged, origin, repository=repository).status == "pass"


def test_a_default_branch_the_repository_lacks_is_an_error(origin):
    sha = origin.commit({"deploy.sh": DEPLOY_POLLING})
    repository = {"url": str(origin.bare), "default_branch": "trunk"}
    outcome = fact("on_branch", sha, origin, repository=repository)
    assert outcome.status == "error"
    assert outcome.detail == (
        f"The repository {origin.bare} has no branch trunk (the catalog's default_branch)."
    )


def test_changes_since_the_verified_release_are_listed(origin):
    deployed = origin.commit(
        {"deploy.sh": DEPLOY_SLEEPING, "db/001.sql": "create table t();", "old.txt": "x"}
    )
    git("mv", "old.txt", "new.txt", cwd=origin.work)
    released = origin.commit(
        {"deploy.sh": DEPLOY_POLLING, "db/002.sql": "alter table t add c int;"}
    )
    outcome = fact(
        "changed_since_deployed", released, origin, verified=VerifiedRelease("1.4.1", deployed)
    )
    assert outcome.status == "pass"
    assert outcome.detail == (
        "3 files changed since 1.4.1 (verified in production): "
        "db/002.sql: added; deploy.sh: modified; new.txt: renamed from old.txt."
    )
    assert outcome.data["since"] == "1.4.1"
    assert sorted((f["path"], f["status"], f["old_path"]) for f in outcome.data["files"]) == [
        ("db/002.sql", "added", ""),
        ("deploy.sh", "modified", ""),
        ("new.txt", "renamed", "old.txt"),
    ]


def test_changes_to_watched_files_can_warn(origin):
    deployed = origin.commit({"deploy.sh": DEPLOY_SLEEPING, "db/migrations/001.sql": "select 1;"})
    released = origin.commit({"db/migrations/002.sql": "select 2;", "README.md": "docs"})
    since = VerifiedRelease("1.4.1", deployed)
    watched = fact(
        "changed_since_deployed", released, origin, verified=since,
        files=["db/migrations/**"], changed_status="warn",
    )  # fmt: skip
    assert watched.status == "warn"
    assert watched.detail == (
        "1 file of db/migrations/** changed since 1.4.1 (verified in production): "
        "db/migrations/002.sql: added."
    )
    quiet = fact(
        "changed_since_deployed", released, origin, verified=since,
        files=["deploy/**", "*.sh"], changed_status="fail",
    )  # fmt: skip
    assert quiet.status == "pass"
    assert quiet.detail == (
        "No files of deploy/**, *.sh changed since 1.4.1 (verified in production)."
    )


def test_nothing_verified_yet_skips_the_comparison(origin):
    sha = origin.commit({"deploy.sh": DEPLOY_POLLING})
    outcome = fact("changed_since_deployed", sha, origin)
    assert (outcome.status, outcome.detail) == (
        "skipped",
        "No release has been verified in production yet: nothing to compare with.",
    )


def test_a_verified_commit_gone_from_the_repository_is_an_error_for_the_comparison_only(origin):
    sha = origin.commit({"deploy.sh": DEPLOY_POLLING})
    gone = VerifiedRelease("1.4.1", "0123456789abcdef0123456789abcdef01234567")
    outcome = fact("changed_since_deployed", sha, origin, verified=gone)
    assert outcome.status == "error"
    assert outcome.detail == (
        "Cannot compare with 1.4.1 (verified in production): "
        f"Commit 0123456789ab is not in {origin.bare}."
    )
    assert fact("no_fixed_sleeps", sha, origin, verified=gone).status == "pass"


def test_git_rules_need_a_repository(repos):
    (repos / "tree").mkdir()
    for rule in ("tag_points_at_release", "on_branch", "changed_since_deployed"):
        outcome = evaluate(context("repository", {"rule": rule, "path": "tree"}))
        assert outcome.status == "error"
        assert "name the project's repository in the catalog" in outcome.detail


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"rule": "changed_since_deployed", "changed_status": "error"}, "changed_status"),
        ({"rule": "changed_since_deployed", "files": []}, "files"),
        ({"rule": "on_branch", "branch": "main"}, "branch"),
    ],
)
def test_bad_git_rule_settings_are_refused(config, field):
    with pytest.raises(ConfigError) as refused:
        get_kind("repository").validate(config)
    assert refused.value.field == field


# Never hanging, never showing a secret ------------------------------------------------------------


def test_the_token_is_never_on_a_command_line(origin, repos, monkeypatch):
    monkeypatch.setenv("POS_GIT_TOKEN", TOKEN)
    sha = origin.commit({"deploy.sh": DEPLOY_POLLING})
    with GitHTTPServer(repos, token=TOKEN, watch_for=TOKEN) as server:
        outcome = judge(
            "no_fixed_sleeps",
            sha,
            {"url": server.url("pos.git"), "credentials_env": "POS_GIT_TOKEN"},
        )
    assert outcome.status == "pass"
    assert server.requests  # git was running while the server looked
    assert server.command_lines == []


def test_a_remote_that_never_answers_ends_in_an_error_within_the_time_limit(origin, settings):
    """A server that accepts the connection and then says nothing: git gives up (its own
    low-speed limit, or the time limit on the command) instead of hanging the run."""
    settings.PREFLIGHT_GIT_TIMEOUT_SECONDS = 2
    silent = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        silent.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(silent.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        sha = origin.commit({"deploy.sh": DEPLOY_POLLING})
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/pos.git"
        outcome = judge("no_fixed_sleeps", sha, {"url": url})
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        silent.close()
    assert outcome.status == "error"
    assert "\n" not in outcome.detail
    assert outcome.detail in (
        "git fetch did not finish within 2 s.",
        f"The repository {url} is unreachable: "
        f"unable to access '{url}/': Operation too slow. Less than 1 bytes/sec transferred the last 2 seconds.",
    )


FETCH_IN_A_PROCESS = """
import sys, time
from pathlib import Path
import django
django.setup()
from checks.kinds.repository.source import checkout
from checks.kinds.repository.source.config import validate_repository
go, url, sha = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
while not go.exists():
    time.sleep(0.01)
fetched = checkout(project="shop", repository=validate_repository({"url": url}), sha=sha)
with fetched.tree.reading() as root:
    print((root / "deploy.sh").read_text(), end="")
"""


def test_two_worker_processes_fetching_at_once_both_get_the_commit(
    origin, repos, settings, tmp_path
):
    sha = origin.commit({"deploy.sh": DEPLOY_POLLING})
    go = tmp_path / "go"
    env = subprocess_env(
        PREFLIGHT_REPOSITORY_ROOT=str(repos),
        PREFLIGHT_GIT_CACHE_DIR=str(settings.PREFLIGHT_GIT_CACHE_DIR),
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", FETCH_IN_A_PROCESS, str(go), str(origin.bare), sha],
            env=env,
            cwd=settings.BASE_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    go.touch()
    answers = [process.communicate(timeout=120) for process in processes]
    assert [(p.returncode, out) for p, (out, _) in zip(processes, answers, strict=True)] == [
        (0, DEPLOY_POLLING)
    ] * 3, [err for _, err in answers]
    mirror = Mirror("shop", Repository.from_config(validate_repository({"url": str(origin.bare)})))
    git("fsck", "--no-progress", cwd=mirror.path)


def test_the_credential_may_come_from_a_file(origin, http, monkeypatch, tmp_path):
    """NAME_FILE, as for Preflight's own secrets (Docker and Kubernetes secrets are files)."""
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    monkeypatch.delenv("POS_GIT_TOKEN", raising=False)
    monkeypatch.setenv("POS_GIT_TOKEN_FILE", str(token_file))
    sha = origin.commit({"deploy.sh": DEPLOY_POLLING})
    repository = {"url": http.url("pos.git"), "credentials_env": "POS_GIT_TOKEN"}
    assert judge("no_fixed_sleeps", sha, repository).status == "pass"


@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("wrong token", "refused the credential in POS_GIT_TOKEN"),
        ("missing commit", "is not in"),
        ("no such repository", "No git repository at"),
        ("unreachable", "is unreachable"),
    ],
)
def test_every_error_is_one_line_without_traceback_or_secret(
    origin, repos, monkeypatch, caplog, case, says
):
    secret = TOKEN if case != "wrong token" else "wr0ng-" + TOKEN
    monkeypatch.setenv("POS_GIT_TOKEN", secret)
    sha = origin.commit({"deploy.sh": DEPLOY_POLLING})
    with GitHTTPServer(repos, token=TOKEN) as server:
        url = {
            "no such repository": server.url("nothing-here.git"),
            "unreachable": "http://127.0.0.1:9/pos.git",
        }.get(case, server.url("pos.git"))
        if case == "missing commit":
            sha = "0123456789abcdef0123456789abcdef01234567"
        with caplog.at_level(logging.DEBUG):
            outcome = judge(
                "no_fixed_sleeps", sha, {"url": url, "credentials_env": "POS_GIT_TOKEN"}
            )
    assert outcome.status == "error"
    assert says in outcome.detail
    assert "\n" not in outcome.detail
    assert "Traceback" not in outcome.detail
    assert secret not in outcome.detail
    assert secret not in caplog.text


def test_the_repositorys_attributes_do_not_hide_or_rewrite_files(origin):
    """export-ignore would keep a file out of `git archive`; the tree is what was committed."""
    sha = origin.commit(
        {
            ".gitattributes": "deploy.sh export-ignore\nversion.txt export-subst\n*.txt text eol=crlf\n",
            "deploy.sh": DEPLOY_SLEEPING,
            "version.txt": "$Format:%H$\n",
        }
    )
    fetched = checkout(
        project="shop", repository=validate_repository({"url": str(origin.bare)}), sha=sha
    )
    with fetched.tree.reading() as root:
        assert (root / "deploy.sh").read_text() == DEPLOY_SLEEPING
        assert (root / "version.txt").read_bytes() == b"$Format:%H$\n"
    assert judge("no_fixed_sleeps", sha, {"url": str(origin.bare)}).status == "fail"
