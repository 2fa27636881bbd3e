"""no_plaintext_secrets: detect-secrets over a whole tree, with the repository's own allow-list
(a `.secrets.baseline` written by the detector's own CLI, and its inline pragma)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from checks.kinds import ConfigError, get_kind
from checks.kinds.repository import detector

from .source_trees import assert_never_shown, judge, write


@pytest.fixture
def tree(tmp_path, settings) -> Path:  # type: ignore[no-untyped-def]
    settings.PREFLIGHT_REPOSITORY_ROOT = tmp_path
    root = tmp_path / "shop" / "1.0.0"
    root.mkdir(parents=True)
    return root


AWS_KEY_ID = "AKIAZ3MSJV4WQ2XKRT7N"
AWS_SECRET = "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"
GITHUB_TOKEN = "ghp_1a2B3c4D5e6F7g8H9i0JkLmNoPqRsTuVwXyZ"
PRIVATE_KEY = """-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACDx3bYh8yqYz0c1m0Zb3nJvO9mV1x2dQm0m2d8t4kQvZwAAAJgq9jX8KvY1
-----END OPENSSH PRIVATE KEY-----
"""

APP = {
    "README.md": "# Shop\n\nRun `make dev`. The API docs live at /docs.\n",
    "shop/settings/base.py": """
        import os

        SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
        DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql"}}
        AUTH_PASSWORD_VALIDATORS = [{"NAME": "MinimumLengthValidator"}]
    """,
    "shop/views.py": """
        from django.http import JsonResponse


        def health(request):
            return JsonResponse({"status": "ok"})
    """,
    "frontend/package.json": '{"name": "shop-web", "version": "1.4.2"}\n',
    "frontend/src/api.ts": """
        export const baseUrl = import.meta.env.VITE_API_URL ?? "/api";
        export async function get(path: string) {
          return fetch(`${baseUrl}${path}`).then((r) => r.json());
        }
    """,
}


def test_a_clean_tree_passes(tree):
    write(tree, APP)
    outcome = judge("no_plaintext_secrets")
    assert outcome.status == "pass"
    assert outcome.detail == "No secrets found (5 files scanned)."


def test_keys_tokens_and_private_keys_fail_naming_file_line_and_kind_only(tree):
    write(
        tree,
        {
            **APP,
            "shop/settings/production.py": f"""
                from .base import *  # noqa

                AWS_ACCESS_KEY_ID = "{AWS_KEY_ID}"
                AWS_SECRET_ACCESS_KEY = "{AWS_SECRET}"
            """,
            "scripts/release.sh": f"""
                #!/usr/bin/env bash
                set -euo pipefail
                export GITHUB_TOKEN={GITHUB_TOKEN}
                gh release create "v$1"
            """,
            "deploy/id_deploy": PRIVATE_KEY,
        },
    )
    outcome = judge("no_plaintext_secrets")
    assert outcome.status == "fail"
    assert "deploy/id_deploy:1: Private Key" in outcome.detail
    assert "scripts/release.sh:3: GitHub Token" in outcome.detail
    assert "shop/settings/production.py:3: AWS Access Key" in outcome.detail
    assert "shop/settings/production.py:4: Secret Keyword" in outcome.detail
    assert_never_shown(outcome, AWS_KEY_ID, AWS_SECRET, GITHUB_TOKEN, "b3BlbnNzaC1rZXkt")
    files = {(f["file"], f["line"]) for f in outcome.data["findings"]}
    assert ("shop/settings/production.py", 3) in files


def test_a_high_entropy_string_is_found(tree):
    write(
        tree,
        {
            **APP,
            "frontend/src/analytics.ts": (
                'export const writeKey = "Zx9Kp2LmQ7vR4tWb8NcJ6sHd3FgY1aEu5oIk0TqVy";\n'
            ),
        },
    )
    outcome = judge("no_plaintext_secrets")
    assert outcome.status == "fail"
    assert "frontend/src/analytics.ts:1: Base64 High Entropy String" in outcome.detail


def _baseline(tree: Path) -> dict:  # type: ignore[type-arg]
    """The baseline as a project makes it: the detector's own CLI, run at the tree's root."""
    result = subprocess.run(
        [sys.executable, "-m", "detect_secrets", "scan", "--all-files", "--no-verify"],
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    (tree / ".secrets.baseline").write_text(result.stdout)
    return json.loads(result.stdout)


def test_secrets_listed_in_the_baseline_are_allowed_and_new_ones_are_not(tree):
    write(
        tree,
        {
            **APP,
            "tests/fixtures/fake_aws.py": f'AWS_ACCESS_KEY_ID = "{AWS_KEY_ID}"\n',
            "docs/examples/config.py": f'AWS_SECRET_ACCESS_KEY = "{AWS_SECRET}"\n',
        },
    )
    baseline = _baseline(tree)
    assert set(baseline["results"]) == {"tests/fixtures/fake_aws.py", "docs/examples/config.py"}
    outcome = judge("no_plaintext_secrets")
    assert outcome.status == "pass", outcome.detail
    assert "known secrets allowed by .secrets.baseline" in outcome.detail

    write(tree, {"scripts/release.sh": f"export GITHUB_TOKEN={GITHUB_TOKEN}\n"})
    outcome = judge("no_plaintext_secrets")
    assert outcome.status == "fail"
    assert "scripts/release.sh:1: GitHub Token" in outcome.detail
    assert "fake_aws" not in outcome.detail


def test_a_baseline_entry_audited_as_a_real_secret_is_not_allowed(tree):
    write(tree, {**APP, "docs/examples/config.py": f'AWS_SECRET_ACCESS_KEY = "{AWS_SECRET}"\n'})
    baseline = _baseline(tree)
    for secret in baseline["results"]["docs/examples/config.py"]:
        secret["is_secret"] = True
    (tree / ".secrets.baseline").write_text(json.dumps(baseline, indent=2))
    outcome = judge("no_plaintext_secrets")
    assert outcome.status == "fail"
    assert "docs/examples/config.py:1" in outcome.detail


def test_the_inline_pragma_allows_a_line(tree):
    write(
        tree,
        {
            **APP,
            "tests/test_payments.py": f"""
                STRIPE_TEST_KEY = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"  # pragma: allowlist secret
                # pragma: allowlist nextline secret
                AWS_SECRET_ACCESS_KEY = "{AWS_SECRET}"
            """,
        },
    )
    assert judge("no_plaintext_secrets").status == "pass"


def test_vendored_directories_are_skipped_and_exclude_adds_more(tree):
    write(
        tree,
        {
            **APP,
            "frontend/node_modules/aws-sdk/dist/test.js": f'const k = "{AWS_KEY_ID}";\n',
            ".git/config": f"[remote]\n\turl = https://x:{GITHUB_TOKEN}@github.com/acme/shop\n",
            "vendor/github.com/lib/pq/conn_test.go": f'var key = "{AWS_KEY_ID}"\n',
            "testdata/keys/id_test": PRIVATE_KEY,
        },
    )
    outcome = judge("no_plaintext_secrets")
    assert outcome.status == "fail"
    assert outcome.detail.startswith("Secrets in the source tree: testdata/keys/id_test:1: ")
    assert "node_modules" not in outcome.detail
    assert judge("no_plaintext_secrets", exclude=["testdata/**/*"]).status == "pass"


def test_binary_and_oversized_files_are_skipped(tree):
    write(
        tree,
        {
            **APP,
            "static/logo.png": b"\x89PNG\r\n\x1a\n\x00\x00" + AWS_KEY_ID.encode(),
            "data/dump.bin": b"\x00\x01" + f'AWS_SECRET_ACCESS_KEY="{AWS_SECRET}"'.encode(),
            "data/huge.json": '{"rows": [' + '"x",' * 300_000 + f'"{AWS_KEY_ID}"]}}\n',
        },
    )
    outcome = judge("no_plaintext_secrets")
    assert outcome.status == "pass", outcome.detail


def test_an_unreadable_baseline_is_an_error_naming_it(tree):
    write(tree, {**APP, ".secrets.baseline": "{not json"})
    outcome = judge("no_plaintext_secrets")
    assert outcome.status == "error"
    assert outcome.detail.startswith(".secrets.baseline is not a readable detect-secrets baseline")


def test_a_baseline_elsewhere_is_named_by_the_setting(tree):
    write(tree, {**APP, "docs/examples/config.py": f'AWS_SECRET_ACCESS_KEY = "{AWS_SECRET}"\n'})
    _baseline(tree)
    (tree / "security").mkdir()
    (tree / ".secrets.baseline").rename(tree / "security/secrets.baseline")
    assert judge("no_plaintext_secrets").status == "fail"
    assert judge("no_plaintext_secrets", baseline="security/secrets.baseline").status == "pass"


def test_a_large_realistic_tree_takes_a_few_seconds_of_cpu(tree, monkeypatch):
    modules = {
        f"shop/app{i}/views.py": f'''
            """Views of app {i}."""
            from django.shortcuts import get_object_or_404, render

            from .models import Item{i}


            def detail(request, pk):
                item = get_object_or_404(Item{i}, pk=pk)
                password_hint = request.GET.get("hint", "")
                return render(request, "app{i}/detail.html", {{"item": item, "hint": password_hint}})
        '''
        * 20
        for i in range(300)
    }
    templates = {
        f"shop/templates/app{i}/detail.html": '<div class="item" data-id="{{ item.pk }}">\n' * 100
        for i in range(300)
    }
    write(tree, {**APP, **modules, **templates})
    # The scan's own work, in CPU time of this thread: the machine's load does not change it
    # (the wall-clock budget is lifted so a busy machine cannot stop the scan early).
    monkeypatch.setattr(detector, "SCAN_SECONDS", 600)
    started = time.thread_time()
    outcome = judge("no_plaintext_secrets")
    took = time.thread_time() - started
    assert outcome.detail == "No secrets found (605 files scanned)."
    assert took < 10, f"{took:.1f} s of CPU for 605 files"


def test_a_scan_that_runs_out_of_time_says_so(tree, monkeypatch):
    write(tree, APP)
    monkeypatch.setattr(detector, "SCAN_SECONDS", 0)
    outcome = judge("no_plaintext_secrets")
    assert outcome.status == "warn"
    assert "stopped at 0 s or 10000 files, the rest was not scanned" in outcome.detail


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"baseline": "../.secrets.baseline"}, "baseline"),
        ({"exclude": ["/etc/*"]}, "exclude"),
        ({"files": ["*"]}, "files"),
    ],
)
def test_invalid_secret_settings_are_refused_naming_the_field(config, field):
    with pytest.raises(ConfigError) as refused:
        get_kind("repository").validate({"rule": "no_plaintext_secrets", "path": "x", **config})
    assert refused.value.field == field


def test_scans_running_at_once_in_threads_find_what_each_finds_alone(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from checks.kinds.repository.tree import SourceTree

    roots = []
    for i, secret in enumerate([f'AWS_ACCESS_KEY_ID = "{AWS_KEY_ID}"\n', PRIVATE_KEY, ""]):
        root = tmp_path / f"tree{i}"
        write(root, {**APP, "config/keys.txt": secret})
        roots.append(SourceTree(root))
    alone = [detector.scan(t, detector.Baseline(), []).detected for t in roots]
    with ThreadPoolExecutor(max_workers=6) as pool:
        together = list(
            pool.map(lambda t: detector.scan(t, detector.Baseline(), []).detected, roots * 2)
        )
    assert together == alone * 2
    assert [len(found) for found in alone] == [1, 1, 0]
