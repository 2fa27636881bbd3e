"""no_fixed_sleeps on deploy scripts as projects write them: bash read by a real parser,
PowerShell by a tokenizer that knows strings, comments, here-strings and loops."""

from __future__ import annotations

from pathlib import Path

import pytest

from checks.kinds import ConfigError, get_kind
from checks.kinds.repository import evaluate

from .conftest import context


@pytest.fixture
def tree(tmp_path, settings) -> Path:  # type: ignore[no-untyped-def]
    settings.PREFLIGHT_REPOSITORY_ROOT = tmp_path
    root = tmp_path / "shop" / "1.0.0"
    root.mkdir(parents=True)
    return root


def write(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def sleeps(**config):  # type: ignore[no-untyped-def]
    return evaluate(
        context("repository", {"rule": "no_fixed_sleeps", "path": "{project}/{version}", **config})
    )


def lines(outcome) -> list[str]:  # type: ignore[no-untyped-def]
    return [f"{f.file}:{f.line}" for f in outcome.findings]


DEPLOY_WITH_FIXED_WAITS = """\
#!/usr/bin/env bash
# Deploy the shop: pull, migrate, restart. Run from the release checkout.
set -euo pipefail

APP_DIR=/opt/shop
COMPOSE="docker compose -f docker-compose.prod.yml"
WARMUP=30

cd "$APP_DIR"
git fetch --tags && git checkout "v${1:?usage: deploy.sh VERSION}"
$COMPOSE pull
$COMPOSE up -d db
echo "Waiting for the database (sleep 10 is usually enough)"
sleep 10
$COMPOSE run --rm web python manage.py migrate --noinput
$COMPOSE up -d --remove-orphans web worker
sleep "${WARMUP}"
curl -fsS http://localhost:8000/healthz
"""


def test_fixed_sleeps_after_starting_services_fail_with_file_and_line(tree):
    write(tree, "deploy.sh", DEPLOY_WITH_FIXED_WAITS)
    outcome = sleeps()
    assert outcome.status == "fail"
    assert lines(outcome) == ["deploy.sh:14", "deploy.sh:17"]
    assert 'deploy.sh:17: sleep "${WARMUP}" (30 s)' in outcome.detail


DEPLOY_THAT_POLLS = """\
#!/bin/bash
set -Eeuo pipefail
readonly HEALTH_URL="http://localhost:8000/healthz"

wait_for_db() {
  until docker compose exec -T db pg_isready -U "$POSTGRES_USER" >/dev/null 2>&1; do
    echo "database not ready yet"
    sleep 10
  done
}

wait_for_app() {
  for i in $(seq 1 30); do
    if curl -fsS "$HEALTH_URL" >/dev/null; then
      echo "up after $i tries"
      break
    fi
    sleep 10
  done
}

wait_healthy() {  # a container's own health check, read every 15 s
  local status=""
  while [[ "$status" != "healthy" ]]; do
    status=$(docker inspect -f '{{.State.Health.Status}}' "$1")
    sleep 15
  done
}

retry() {
  local n=0
  until "$@"; do
    n=$((n + 1))
    [[ $n -ge 5 ]] && return 1
    sleep 20
  done
}

for attempt in 1 2 3 4 5; do
  ./scripts/migrate.sh && break || sleep 30
done
while ! nc -z localhost 5432; do sleep 8; done
while [ ! -f /var/run/shop/ready ]; do sleep 6; done
case "$(curl -s -o /dev/null -w '%{http_code}' "$HEALTH_URL")" in
  200) echo ok ;;
  *) echo "not healthy" ;;
esac
wait_for_db
retry docker compose pull
wait_for_app
wait_healthy shop-web
"""


def test_sleeps_between_polls_of_readiness_or_retry_loops_are_not_fixed_waits(tree):
    write(tree, "deploy.sh", DEPLOY_THAT_POLLS)
    outcome = sleeps()
    assert outcome.status == "pass", outcome.detail
    assert outcome.detail == "No fixed sleeps of 5 s or more in 1 scripts."


def test_a_loop_that_polls_nothing_is_still_a_fixed_wait(tree):
    write(
        tree,
        "scripts/rolling-restart.sh",
        """\
#!/usr/bin/env bash
for host in web1 web2 web3; do
  ssh "$host" 'sudo systemctl restart shop'
  sleep 30   # let the node warm up before the next one
done
i=0
while [ "$i" -lt 3 ]; do
  docker compose restart worker
  i=$((i + 1))
  sleep 20
done
while true; do
  [ "$i" -gt 10 ] && break
  i=$((i + 1))
  sleep 7
done
""",
    )
    outcome = sleeps()
    assert outcome.status == "fail"
    assert lines(outcome) == [
        "scripts/rolling-restart.sh:4",
        "scripts/rolling-restart.sh:10",
        "scripts/rolling-restart.sh:15",
    ]


@pytest.mark.parametrize(
    ("command", "seconds"),
    [
        ("sleep 30", "30 s"),
        ("sleep 30s", "30 s"),
        ("sleep 2m", "120 s"),
        ("sleep 1h", "3600 s"),
        ("sleep 0.5m", "30 s"),
        ("sleep 1m 30s", "90 s"),
        ("sleep .5h", "1800 s"),
        ("sleep infinity", "forever"),
    ],
)
def test_every_unit_sleep_accepts_is_measured(tree, command, seconds):
    write(tree, "deploy.sh", f"docker compose up -d\n{command}\n")
    outcome = sleeps()
    assert outcome.status == "fail"
    assert f"deploy.sh:2: {command} ({seconds})" in outcome.detail


def test_waits_shorter_than_min_seconds_pass(tree):
    write(tree, "deploy.sh", "sleep 0.2\nsleep 3\nsleep 2s\n")
    assert sleeps().status == "pass"
    write(tree, "deploy.sh", "sleep 30\nsleep 1m\n")
    outcome = sleeps(min_seconds=60)
    assert lines(outcome) == ["deploy.sh:2"]


@pytest.mark.parametrize(
    ("script", "seconds"),
    [
        ("WAIT=30\nsleep $WAIT\n", 30),
        ('WAIT=30; sleep "${WAIT}"\n', 30),
        ("readonly PAUSE=45\nsleep ${PAUSE}s\n", 45),
        ("export SETTLE='1m'\nsleep \"$SETTLE\"\n", 60),
        ('sleep "${SETTLE_SECONDS:-40}"\n', 40),
        ("DELAY=${DELAY:-25}\nsleep $DELAY\n", 25),
        ('pause() { sleep "$GRACE"; }\nGRACE=12\npause\n', 12),
    ],
)
def test_a_variable_set_to_a_constant_in_the_script_is_a_fixed_wait(tree, script, seconds):
    write(tree, "deploy.sh", script)
    outcome = sleeps()
    assert outcome.status == "fail", outcome.detail
    assert f"({seconds} s)" in outcome.detail


@pytest.mark.parametrize(
    "script",
    [
        'sleep "$1"\n',
        "WAIT=$(cat /etc/shop/warmup)\nsleep $WAIT\n",
        "read -r WAIT < warmup.txt\nsleep $WAIT\n",
        'sleep "${WARMUP_SECONDS}"\n',
        "WAIT=10\nWAIT+=5\nsleep $WAIT\n",
    ],
)
def test_a_wait_set_from_outside_the_script_is_not_judged(tree, script):
    write(tree, "deploy.sh", script)
    assert sleeps().status == "pass"


def test_the_word_inside_strings_heredocs_and_comments_is_not_a_sleep(tree):
    write(
        tree,
        "deploy.sh",
        """\
#!/bin/sh
# sleep 30 used to be here
echo "sleep 30 if the database is slow"
echo 'sleep 45'
ssh deploy@web1 "sleep 30 && sudo systemctl restart shop"
bash -c 'sleep 60'
cat > /etc/motd <<EOF
Deployed. Do not sleep 90 before the smoke test.
EOF
cat <<-'NOTE'
	sleep 120
	NOTE
docker run --rm alpine sleep 30
""",
    )
    outcome = sleeps()
    assert outcome.status == "pass", outcome.detail


def test_bash_that_simple_parsers_reject_is_still_read(tree):
    write(
        tree,
        "deploy.sh",
        """\
#!/usr/bin/env bash
declare -a SERVICES=(web worker beat)
if [[ "${1:-}" == --dry-run ]]; then DRY=1; fi
case "${ENVIRONMENT:-staging}" in
  production) REPLICAS=3 ;;
  *) REPLICAS=1 ;;
esac
for ((i = 0; i < ${#SERVICES[@]}; i++)); do
  echo "starting ${SERVICES[$i]} x$((REPLICAS))"
done
sleep 20
""",
    )
    outcome = sleeps()
    assert lines(outcome) == ["deploy.sh:11"]


def test_an_empty_or_comment_only_script_passes(tree):
    write(tree, "deploy.sh", "")
    write(tree, "rollback.sh", "#!/bin/sh\n# TODO\n")
    assert sleeps().status == "pass"


def test_a_script_bash_cannot_read_is_a_warning_naming_it(tree):
    write(tree, "deploy.sh", '#!/bin/bash\nif [ -n "$1" ]; then\n  echo deploying\nsleep 30\n')
    outcome = sleeps()
    assert outcome.status == "warn"
    assert outcome.findings[0].file == "deploy.sh"
    assert "deploy.sh:5: cannot read this part (a missing 'fi')" in outcome.detail
    assert "its waits were not judged" in outcome.detail


def test_valid_bash_the_grammar_lacks_is_read_around_and_said(tree):
    script = """\
#!/usr/bin/env bash
shopt -s extglob
rm -f build/!(keep).tar.gz
docker compose up -d
sleep 20
"""
    write(tree, "deploy.sh", script)
    outcome = sleeps()
    assert outcome.status == "fail"
    assert lines(outcome) == ["deploy.sh:5", "deploy.sh:3"]
    assert "deploy.sh:3: cannot read this part" in outcome.detail
    write(tree, "deploy.sh", script.replace("sleep 20", "sleep 1"))
    assert sleeps().status == "warn"


def test_unreadable_scripts_are_listed_next_to_the_fixed_sleeps_of_others(tree):
    write(tree, "broken.sh", 'echo "never closed\n')
    write(tree, "deploy.sh", "sleep 15\n")
    outcome = sleeps()
    assert outcome.status == "fail"
    assert [f.file for f in outcome.findings] == ["deploy.sh", "broken.sh"]


def test_scripts_under_dependency_directories_are_not_the_projects(tree):
    write(tree, "node_modules/some-pkg/install.sh", "sleep 30\n")
    write(tree, ".venv/bin/activate.sh", "sleep 30\n")
    write(tree, "deploy.sh", "sleep 1\n")
    assert sleeps().status == "pass"
    assert sleeps(files=["node_modules/**/*.sh"]).status == "fail"


def test_a_script_without_an_extension_is_read_by_its_interpreter_line(tree):
    write(tree, "bin/deploy", "#!/usr/bin/env bash\nsleep 30\n")
    write(tree, "bin/deploy-windows", "#!/usr/bin/env pwsh\nStart-Sleep -Seconds 40\n")
    outcome = sleeps(files=["bin/*"])
    assert outcome.detail.count("bin/deploy") == 2
    assert "bin/deploy-windows:2: Start-Sleep -Seconds 40 (40 s)" in outcome.detail


def test_the_detail_lists_ten_findings_and_counts_the_rest(tree):
    write(tree, "deploy.sh", "".join(f"sleep {n}\n" for n in range(10, 25)))
    outcome = sleeps()
    assert len(outcome.findings) == 15
    assert outcome.detail.count("deploy.sh:") == 10
    assert outcome.detail.endswith("; and 5 more.")


DEPLOY_PS1 = """\
#Requires -Version 5.1
<#
.SYNOPSIS
  Deploys the shop on Windows. Start-Sleep -Seconds 60 here is only documentation.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)] [string] $Version,
    [int] $WarmupSeconds = 45
)
$ErrorActionPreference = 'Stop'
$delay = 30
$ms = 20 * 1000
Write-Host "Deploying $Version; Start-Sleep 99 is text $(Get-Date -Format "u")"
docker compose pull
docker compose up -d db
Start-Sleep -Seconds 10
Start-Sleep 12
Start-Sleep -s 14
Start-Sleep -Milliseconds 30000
sleep 16
Start-Sleep -Seconds $delay
Start-Sleep -Milliseconds $ms
Start-Sleep -Seconds $WarmupSeconds
Start-Sleep -Seconds:18
Start-Sleep -Duration (New-TimeSpan -Minutes 1)
Start-Sleep -Sec 2; Start-Sleep `
  -Seconds 40
Start-Sleep -Seconds $env:WARMUP
"""


def test_powershell_fixed_waits_in_every_spelling_fail(tree):
    write(tree, "deploy.ps1", DEPLOY_PS1)
    outcome = sleeps()
    assert outcome.status == "fail"
    assert [f.line for f in outcome.findings] == [17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27]
    messages = [f.message for f in outcome.findings]
    assert "Start-Sleep -Milliseconds 30000 (30 s)" in messages
    assert "Start-Sleep -Seconds $delay (30 s)" in messages
    assert "Start-Sleep -Milliseconds $ms (20 s)" in messages
    assert "Start-Sleep -Seconds $WarmupSeconds (45 s)" in messages
    assert "Start-Sleep -Duration ( New-TimeSpan -Minutes 1 ) (60 s)" in messages
    assert "Start-Sleep -Seconds 40 (40 s)" in messages


def test_powershell_strings_comments_and_here_strings_hold_no_sleeps(tree):
    write(
        tree,
        "deploy.ps1",
        """\
# Start-Sleep -Seconds 30
Write-Host 'it''s fine to Start-Sleep 30 here'
Write-Host "Next: `"Start-Sleep 45`" $(if ($x) { "Start-Sleep 50" })"
$doc = @"
Start-Sleep -Seconds 60
"@
$raw = @'
sleep 90
'@
<# Start-Sleep 120
   still a comment #>
Write-Output “Start-Sleep 30”
""",
    )
    outcome = sleeps()
    assert outcome.status == "pass", outcome.detail


def test_powershell_polling_loops_are_not_fixed_waits(tree):
    write(
        tree,
        "deploy.ps1",
        """\
$attempt = 0
while ($attempt -lt 30) {
    try {
        Invoke-WebRequest -Uri http://localhost/health -UseBasicParsing | Out-Null
        break
    } catch {
        $attempt++
        Start-Sleep -Seconds 10
    }
}
do {
    $status = (Invoke-RestMethod http://localhost/health).status
    Start-Sleep 6
} until ($status -eq 'ok')
for ($i = 0; $i -lt 60; $i++) {
    if ((docker inspect -f '{{.State.Health.Status}}' shop-web) -eq "healthy") { return }
    Start-Sleep -Seconds 20
}
while (-not (Test-Path C:\\shop\\ready.txt)) { Start-Sleep 7 }
$ready = $false
for ($i = 0; $i -lt 20 -and -not $ready; $i++) {
    $ready = (Test-NetConnection localhost -Port 5432).TcpTestSucceeded
    if (-not $ready) { Start-Sleep -Seconds 15 }
}
""",
    )
    outcome = sleeps()
    assert outcome.status == "pass", outcome.detail


def test_powershell_with_braces_on_their_own_lines(tree):
    write(
        tree,
        "deploy.ps1",
        """\
function Wait-ForHealth
{
    param([string] $Url)
    $tries = 0
    while ($true)
    {
        try
        {
            Invoke-WebRequest -Uri $Url -UseBasicParsing | Out-Null
            return
        }
        catch
        {
            $tries++
            if ($tries -ge 30)
            {
                throw "never healthy"
            }
            Start-Sleep -Seconds 10
        }
    }
}
do
{
    $state = (docker inspect -f '{{.State.Health.Status}}' shop-web)
    Start-Sleep 5
}
until ($state -eq 'healthy')
Start-Sleep -Seconds 20
""",
    )
    assert lines(sleeps()) == ["deploy.ps1:29"]


def test_powershell_loops_that_poll_nothing_are_fixed_waits(tree):
    write(
        tree,
        "deploy.ps1",
        """\
foreach ($server in @('web1', 'web2')) {
    Invoke-Command -ComputerName $server -ScriptBlock { Restart-Service Shop }
    Start-Sleep -Seconds 30
}
$i = 0
while ($i -lt 3) {
    Restart-Service ShopWorker
    $i = $i + 1
    Start-Sleep 20
}
'web1', 'web2' | ForEach-Object { Restart-Computer $_; Start-Sleep 60 }
""",
    )
    outcome = sleeps()
    assert [f.line for f in outcome.findings] == [3, 9, 11]


@pytest.mark.parametrize(
    ("script", "line"),
    [
        ('Write-Host "never closed\nStart-Sleep 30\n', 1),
        ("$x = 1\n$doc = @'\nStart-Sleep 30\n", 2),
        ("<# a comment\nStart-Sleep 30\n", 1),
        ("function Deploy {\n  Start-Sleep 30\n", 1),
        ("if ($x) { Start-Sleep 30 }}\n", 1),
    ],
)
def test_a_powershell_script_that_cannot_be_read_is_a_warning(tree, script, line):
    write(tree, "deploy.ps1", script)
    outcome = sleeps()
    assert outcome.status == "warn"
    assert lines(outcome) == [f"deploy.ps1:{line}"]


def test_the_demo_trees_fixed_sleeps_and_their_fix(settings):
    demo = Path(__file__).resolve().parents[2] / "demo"
    settings.PREFLIGHT_REPOSITORY_ROOT = demo
    config = {"rule": "no_fixed_sleeps", "files": ["*.sh", "*.ps1", "scripts/*.sh"]}
    before = evaluate(context("repository", {**config, "path": "liquor-pos/1.0.0"}))
    assert lines(before) == ["deploy.sh:16", "deploy.sh:19"]
    after = evaluate(context("repository", {**config, "path": "liquor-pos/1.1.0"}))
    assert after.status == "pass"


@pytest.mark.parametrize(
    "config",
    [
        {"min_seconds": -1},
        {"min_seconds": "5"},
        {"files": []},
        {"files": ["../outside.sh"]},
        {"sleep": 5},
    ],
)
def test_bad_settings_are_refused(config):
    with pytest.raises(ConfigError):
        get_kind("repository").validate({"rule": "no_fixed_sleeps", "path": ".", **config})
