"""ci_workflow_exists and ci_tests_before_deploy on pipeline definitions as projects write them:
GitHub Actions, GitLab CI, Bitbucket Pipelines, CircleCI, Azure Pipelines and Jenkins."""

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


def check(rule: str, **config):  # type: ignore[no-untyped-def]
    return evaluate(context("repository", {"rule": rule, "path": "{project}/{version}", **config}))


def ordered(**config):  # type: ignore[no-untyped-def]
    return check("ci_tests_before_deploy", **config)


def places(outcome) -> list[str]:  # type: ignore[no-untyped-def]
    return [f"{f.file}:{f.line}" for f in outcome.findings]


def line(text: str, start: str) -> int:
    """The number of the first line of ``text`` that starts with ``start``."""
    return next(n for n, row in enumerate(text.splitlines(), 1) if row.startswith(start))


GITHUB = """\
name: CI
on:
  push:
    branches: [main]
    tags: ['v*']
  pull_request:

concurrency:
  group: ${{ github.workflow }}-${{ github.ref }}
  cancel-in-progress: true

jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-node@v4
        with: {node-version: 20, cache: npm}
      - run: npm ci
      - run: npm run lint

  test:
    runs-on: ubuntu-latest
    services:
      postgres:
        image: postgres:16
        env: {POSTGRES_PASSWORD: postgres}
        ports: ['5432:5432']
    strategy:
      matrix:
        node: [18, 20]
    steps:
      - uses: actions/checkout@v4
      - run: npm ci
      - run: npm test -- --coverage

  build:
    needs: [lint, test]
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: docker/build-push-action@v6
        with: {push: true, tags: 'ghcr.io/acme/shop:${{ github.sha }}'}

  deploy:
    if: startsWith(github.ref, 'refs/tags/v')
    needs: build
    runs-on: ubuntu-latest
    environment:
      name: production
      url: https://shop.example.com
    steps:
      - uses: actions/checkout@v4
      - run: ./scripts/deploy.sh "${GITHUB_REF_NAME#v}"
"""
GITLAB = """\
stages:
  - build
  - test
  - deploy

variables:
  DOCKER_DRIVER: overlay2

default:
  image: node:20
  before_script:
    - npm ci --cache .npm

build:
  stage: build
  script:
    - npm run build
  artifacts:
    paths: [dist/]

unit-tests:
  stage: test
  script:
    - npm test
  coverage: '/Lines\\s*:\\s*(\\d+\\.?\\d*)%/'

deploy-production:
  stage: deploy
  script:
    - ./scripts/deploy.sh "$CI_COMMIT_TAG"
  environment:
    name: production
    url: https://shop.example.com
  rules:
    - if: $CI_COMMIT_TAG
"""
BITBUCKET = """\
image: node:20

definitions:
  caches:
    npm: ~/.npm
  steps:
    - step: &test
        name: Test
        caches: [npm]
        script:
          - npm ci
          - npm test
    - step: &deploy
        name: Deploy to production
        deployment: production
        trigger: manual
        script:
          - pipe: atlassian/ssh-run:0.8.1
            variables:
              SSH_USER: deploy
              SERVER: shop.example.com
              COMMAND: ./deploy.sh

pipelines:
  default:
    - step: *test
  branches:
    main:
      - step: *test
      - step: *deploy
"""
CIRCLECI = """\
version: 2.1

orbs:
  node: circleci/node@5.2

jobs:
  test:
    docker:
      - image: cimg/node:20.11
    steps:
      - checkout
      - node/install-packages
      - run:
          name: Run tests
          command: npm test
  deploy:
    docker:
      - image: cimg/base:stable
    steps:
      - checkout
      - run: ./scripts/deploy.sh

workflows:
  build-test-deploy:
    jobs:
      - test
      - hold:
          type: approval
          requires: [test]
      - deploy:
          requires: [hold]
          filters:
            branches:
              only: main
"""
AZURE = """\
trigger:
  branches:
    include: [main]

pool:
  vmImage: ubuntu-latest

stages:
  - stage: Build
    jobs:
      - job: BuildAndTest
        steps:
          - task: NodeTool@0
            inputs: {versionSpec: '20.x'}
          - script: npm ci
            displayName: Install
          - script: npm test
            displayName: Test
  - stage: DeployProd
    displayName: Deploy to production
    jobs:
      - deployment: DeployWeb
        environment: production
        strategy:
          runOnce:
            deploy:
              steps:
                - task: AzureWebApp@1
                  inputs:
                    azureSubscription: shop-prod
                    appName: shop
"""
JENKINSFILE = """\
// Declarative pipeline of the shop
pipeline {
    agent { docker { image 'node:20' } }
    environment {
        CI = 'true'
    }
    stages {
        stage('Install') {
            steps {
                sh 'npm ci'
            }
        }
        stage('Test') {
            steps {
                sh 'npm test'
            }
            post {
                always { junit 'reports/**/*.xml' }
            }
        }
        stage('Deploy') {
            when { branch 'main' }
            steps {
                sh "./scripts/deploy.sh ${env.BUILD_NUMBER}"
            }
        }
    }
}
"""
PIPELINES = {
    "GitHub Actions": (".github/workflows/ci.yml", GITHUB),
    "GitLab CI": (".gitlab-ci.yml", GITLAB),
    "Bitbucket Pipelines": ("bitbucket-pipelines.yml", BITBUCKET),
    "CircleCI": (".circleci/config.yml", CIRCLECI),
    "Azure Pipelines": ("azure-pipelines.yml", AZURE),
    "Jenkins": ("Jenkinsfile", JENKINSFILE),
}


@pytest.mark.parametrize("system", PIPELINES)
def test_a_real_pipeline_of_each_system_counts_as_ci(tree, system):
    name, text = PIPELINES[system]
    write(tree, name, text)
    outcome = check("ci_workflow_exists")
    assert outcome.status == "pass"
    assert f"{name} ({system}," in outcome.detail


@pytest.mark.parametrize("system", PIPELINES)
def test_each_systems_deploy_job_after_its_tests_passes(tree, system):
    name, text = PIPELINES[system]
    write(tree, name, text)
    outcome = ordered()
    assert outcome.status == "pass", outcome.detail
    assert outcome.detail.startswith("Every deploy job runs after tests")


@pytest.mark.parametrize("system", PIPELINES)
def test_an_empty_pipeline_file_is_no_pipeline(tree, system):
    name, _ = PIPELINES[system]
    write(tree, name, "")
    outcome = check("ci_workflow_exists")
    assert outcome.status == "fail"
    assert outcome.detail.startswith("No CI pipeline: no file defines jobs")
    assert name in outcome.detail
    write(tree, name, "# TODO: set up CI\n\n")
    assert check("ci_workflow_exists").status == "fail"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (".github/workflows/ci.yml", "name: CI\non: push\n"),
        (".github/workflows/ci.yml", "name: CI\non: push\njobs: {}\n"),
        (".gitlab-ci.yml", "stages: [build, test]\nvariables:\n  NODE_ENV: test\n"),
        (".gitlab-ci.yml", ".template:\n  script: [npm test]\n"),
        ("bitbucket-pipelines.yml", "image: node:20\n"),
        ("bitbucket-pipelines.yml", "image: node:20\npipelines:\n  default: []\n"),
        (".circleci/config.yml", "version: 2.1\norbs:\n  node: circleci/node@5\n"),
        ("azure-pipelines.yml", "trigger: [main]\npool: {vmImage: ubuntu-latest}\n"),
        ("Jenkinsfile", "// pipeline to come\n"),
        (
            "Jenkinsfile",
            "pipeline {\n  agent any\n  options { timeout(time: 1, unit: 'HOURS') }\n}\n",
        ),
    ],
)
def test_a_pipeline_file_without_jobs_is_no_pipeline(tree, name, text):
    write(tree, name, text)
    outcome = check("ci_workflow_exists")
    assert outcome.status == "fail"
    assert name in outcome.detail


def test_a_workflow_without_a_trigger_never_runs(tree):
    write(tree, ".github/workflows/ci.yml", GITHUB.replace("on:\n  push:", "x-on:\n  push:"))
    outcome = check("ci_workflow_exists")
    assert outcome.status == "fail"
    assert ".github/workflows/ci.yml:1: has no `on:` trigger" in outcome.detail


def test_invalid_yaml_is_named_with_its_line(tree):
    write(tree, ".gitlab-ci.yml", "test:\n  script:\n    - npm test\n  stage: [test\n")
    outcome = check("ci_workflow_exists")
    assert outcome.status == "fail"
    assert ".gitlab-ci.yml:5: not valid YAML" in outcome.detail


def test_one_real_pipeline_among_empty_files_is_enough(tree):
    write(tree, ".github/workflows/old.yml", "")
    write(tree, "bitbucket-pipelines.yml", BITBUCKET)
    outcome = check("ci_workflow_exists")
    assert outcome.status == "pass"
    assert "bitbucket-pipelines.yml (Bitbucket Pipelines, 3 jobs)" in outcome.detail
    assert "no pipeline in .github/workflows/old.yml" in outcome.detail


def test_an_unreadable_ci_file_next_to_a_good_pipeline_is_a_warning(tree):
    write(tree, ".github/workflows/ci.yml", GITHUB)
    write(tree, ".gitlab-ci.yml", "deploy:\n  script: [./deploy.sh\n")
    outcome = ordered()
    assert outcome.status == "warn"
    assert places(outcome) == [".gitlab-ci.yml:3"]


def test_no_pipeline_at_all(tree):
    write(tree, "README.md", "Deploy by hand: see docs/deploy.md\n")
    assert check("ci_workflow_exists").status == "fail"
    outcome = ordered()
    assert outcome.status == "fail"
    assert "no tests run before a deployment" in outcome.detail


# GitHub Actions


def test_github_deploy_not_needing_the_tests_fails_at_its_line(tree):
    workflow = GITHUB.replace("    needs: [lint, test]\n", "")
    write(tree, ".github/workflows/ci.yml", workflow)
    outcome = ordered()
    assert outcome.status == "fail"
    assert places(outcome) == [f".github/workflows/ci.yml:{line(workflow, '  deploy:')}"]
    assert "deploy waits for no test job (only for build)" in outcome.detail


def test_github_deploy_running_regardless_of_failures_fails(tree):
    write(
        tree,
        ".github/workflows/ci.yml",
        GITHUB.replace("if: startsWith(github.ref, 'refs/tags/v')", "if: ${{ always() }}"),
    )
    outcome = ordered()
    assert outcome.status == "fail"
    assert "deploy runs even when the jobs before it fail" in outcome.detail


def test_github_tests_allowed_to_fail_do_not_gate(tree):
    workflow = """\
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    continue-on-error: true
    steps: [{run: pytest}]
  release:
    needs: test
    runs-on: ubuntu-latest
    steps:
      - run: python -m build
      - run: twine upload dist/*
"""
    write(tree, ".github/workflows/release.yml", workflow)
    outcome = ordered()
    assert outcome.status == "fail"
    assert "release waits only for test, whose failure is allowed" in outcome.detail
    assert places(outcome) == [".github/workflows/release.yml:7"]


def test_github_one_job_that_tests_before_it_deploys_passes(tree):
    workflow = """\
on: {push: {branches: [main]}}
jobs:
  ship:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: |
          pip install -r requirements.txt
          python -m pytest -q
      - run: fly deploy --remote-only
"""
    write(tree, ".github/workflows/main.yml", workflow)
    assert ordered().status == "pass"
    write(tree, ".github/workflows/main.yml", workflow.replace("python -m pytest -q", "echo skip"))
    assert ordered().status == "fail"
    swapped = workflow.replace("python -m pytest -q", "fly deploy").replace(
        "run: fly deploy --remote-only", "run: pytest"
    )
    write(tree, ".github/workflows/main.yml", swapped)
    assert ordered().status == "fail"


def test_github_a_test_whose_failure_is_ignored_does_not_count(tree):
    workflow = """\
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: npm test || true
  publish:
    needs: build
    runs-on: ubuntu-latest
    steps: [{run: npm publish}]
"""
    write(tree, ".github/workflows/ci.yml", workflow)
    assert ordered().status == "fail"


def test_github_deploy_workflow_triggered_by_a_successful_ci_run_passes(tree):
    write(tree, ".github/workflows/ci.yml", GITHUB.split("  build:")[0])
    deploy = """\
name: Deploy
on:
  workflow_run:
    workflows: [CI]
    types: [completed]
    branches: [main]
jobs:
  deploy:
    if: ${{ github.event.workflow_run.conclusion == 'success' }}
    runs-on: ubuntu-latest
    environment: production
    steps:
      - uses: actions/checkout@v4
      - run: ./deploy.sh
"""
    write(tree, ".github/workflows/deploy.yml", deploy)
    assert ordered().status == "pass"
    write(
        tree,
        ".github/workflows/deploy.yml",
        deploy.replace("    if: ${{ github.event.workflow_run.conclusion == 'success' }}\n", ""),
    )
    outcome = ordered()
    assert places(outcome) == [".github/workflows/deploy.yml:8"]


def test_github_a_reusable_test_workflow_counts(tree):
    write(
        tree,
        ".github/workflows/tests.yml",
        "on: workflow_call\njobs:\n  unit:\n    runs-on: ubuntu-latest\n    steps: [{run: go test ./...}]\n",
    )
    write(
        tree,
        ".github/workflows/cd.yml",
        """\
on: push
jobs:
  verify-code:
    uses: ./.github/workflows/tests.yml
  rollout:
    needs: verify-code
    runs-on: ubuntu-latest
    steps: [{run: kubectl apply -f k8s/}]
""",
    )
    assert ordered().status == "pass"


def test_github_a_pipeline_that_never_deploys_is_a_warning(tree):
    write(tree, ".github/workflows/ci.yml", GITHUB.split("  build:")[0])
    outcome = ordered()
    assert outcome.status == "warn"
    assert "No deploy job" in outcome.detail


def test_job_name_patterns_can_be_configured(tree):
    workflow = """\
on: push
jobs:
  qa-suite:
    runs-on: ubuntu-latest
    steps: [{run: ./ci/run-suite}]
  go-live:
    needs: qa-suite
    runs-on: ubuntu-latest
    steps: [{run: ./ci/go-live}]
"""
    write(tree, ".github/workflows/ci.yml", workflow)
    assert ordered().status == "warn"  # nothing looks like a deploy by default
    outcome = ordered(deploy_jobs=["live"])
    assert outcome.status == "fail"
    assert "go-live waits for no test job (only for qa-suite)" in outcome.detail
    assert ordered(deploy_jobs=["live"], test_jobs=["qa"]).status == "pass"


# GitLab CI


def test_gitlab_deploy_that_needs_only_the_build_skips_the_tests(tree):
    write(
        tree,
        ".gitlab-ci.yml",
        GITLAB.replace("  stage: deploy\n", "  stage: deploy\n  needs: [build]\n"),
    )
    outcome = ordered()
    assert outcome.status == "fail"
    assert places(outcome) == [f".gitlab-ci.yml:{line(GITLAB, 'deploy-production:')}"]
    assert "deploy-production waits for no test job (only for build)" in outcome.detail


def test_gitlab_needs_on_the_test_job_passes(tree):
    write(
        tree,
        ".gitlab-ci.yml",
        GITLAB.replace("  stage: deploy\n", "  stage: deploy\n  needs: [unit-tests]\n"),
    )
    assert ordered().status == "pass"


def test_gitlab_stage_order_decides(tree):
    write(
        tree, ".gitlab-ci.yml", GITLAB.replace("  - test\n  - deploy\n", "  - deploy\n  - test\n")
    )
    assert ordered().status == "fail"


def test_gitlab_tests_allowed_to_fail_do_not_gate(tree):
    write(
        tree,
        ".gitlab-ci.yml",
        GITLAB.replace("    - npm test\n", "    - npm test\n  allow_failure: true\n"),
    )
    outcome = ordered()
    assert outcome.status == "fail"
    assert "whose failure is allowed" in outcome.detail


def test_gitlab_default_stages_templates_extends_and_references(tree):
    write(
        tree,
        ".gitlab-ci.yml",
        """\
include:
  - local: ci/deploy.yml
  - template: Security/SAST.gitlab-ci.yml

.node:
  image: node:20
  before_script:
    - npm ci

.setup:
  script:
    - echo "setting up"

pytest:
  extends: .node
  script:
    - !reference [.setup, script]
    - python -m pytest
""",
    )
    write(
        tree,
        "ci/deploy.yml",
        """\
.deploy:
  stage: deploy
  script:
    - helm upgrade --install shop ./chart

deploy-staging:
  extends: .deploy
  environment: staging
""",
    )
    outcome = ordered()
    assert outcome.status == "pass", outcome.detail
    assert "deploy-staging (ci/deploy.yml)" in outcome.detail
    write(
        tree,
        ".gitlab-ci.yml",
        (tree / ".gitlab-ci.yml").read_text().replace("pytest:", "pytest:\n  stage: deploy"),
    )
    outcome = ordered()
    assert places(outcome) == ["ci/deploy.yml:6"]


def test_gitlab_jobs_from_remote_includes_count_but_cannot_be_judged(tree):
    write(tree, ".gitlab-ci.yml", "include:\n  - template: Auto-DevOps.gitlab-ci.yml\n")
    outcome = check("ci_workflow_exists")
    assert outcome.status == "pass"
    assert "jobs from include: template" in outcome.detail
    outcome = ordered()
    assert outcome.status == "warn"
    assert ".gitlab-ci.yml: jobs from include: template" in outcome.detail


def test_gitlab_stopping_an_environment_is_no_deploy(tree):
    write(
        tree,
        ".gitlab-ci.yml",
        """\
stop-review:
  stage: build
  script: [./scripts/teardown.sh]
  environment: {name: review/$CI_COMMIT_REF_SLUG, action: stop}
  when: manual
""",
    )
    assert ordered().status == "warn"


# Bitbucket Pipelines


def test_bitbucket_deploy_step_without_a_test_step_before_it_fails(tree):
    write(
        tree,
        "bitbucket-pipelines.yml",
        BITBUCKET.replace("      - step: *test\n      - step: *deploy", "      - step: *deploy"),
    )
    outcome = ordered()
    assert outcome.status == "fail"
    assert places(outcome) == ["bitbucket-pipelines.yml:29"]  # the `- step: *deploy` line
    assert "Deploy to production (branches main) waits for no test job" in outcome.detail


def test_bitbucket_parallel_tests_and_stages(tree):
    write(
        tree,
        "bitbucket-pipelines.yml",
        """\
pipelines:
  tags:
    'v*':
      - parallel:
          - step:
              name: Lint
              script: [npm run lint]
          - step:
              name: Unit tests
              script: [npm test]
      - stage:
          name: Release
          deployment: production
          steps:
            - step:
                name: Migrate
                script: [npx prisma migrate deploy]
            - step:
                name: Roll out
                script: [./deploy.sh]
  custom:
    hotfix:
      - step:
          name: Hotfix release
          deployment: production
          script: [./deploy.sh]
""",
    )
    outcome = ordered()
    assert outcome.status == "fail"
    assert places(outcome) == ["bitbucket-pipelines.yml:23"]
    assert "Hotfix release (custom hotfix)" in outcome.detail


def test_bitbucket_a_deploy_side_by_side_with_the_tests_fails(tree):
    write(
        tree,
        "bitbucket-pipelines.yml",
        """\
pipelines:
  default:
    - parallel:
        steps:
          - step: {name: Test, script: [npm test]}
          - step: {name: Deploy, deployment: staging, script: [./deploy.sh staging]}
""",
    )
    assert places(ordered()) == ["bitbucket-pipelines.yml:6"]


# CircleCI


def test_circleci_deploy_requiring_only_the_build_fails(tree):
    write(tree, ".circleci/config.yml", CIRCLECI.replace("requires: [test]", "requires: []"))
    outcome = ordered()
    assert outcome.status == "fail"
    assert places(outcome) == [f".circleci/config.yml:{line(CIRCLECI, '      - deploy:')}"]
    assert "deploy (build-test-deploy) waits for no test job (only for hold" in outcome.detail


def test_circleci_orb_jobs_are_read_by_name(tree):
    write(
        tree,
        ".circleci/config.yml",
        """\
version: 2.1
orbs:
  node: circleci/node@5.2
  heroku: circleci/heroku@2.0
workflows:
  main:
    jobs:
      - node/test:
          version: '20.11'
      - heroku/deploy-via-git:
          requires: [node/test]
""",
    )
    assert ordered().status == "pass"


# Azure Pipelines


def test_azure_stage_without_dependencies_runs_first(tree):
    write(
        tree,
        "azure-pipelines.yml",
        AZURE.replace("    displayName: Deploy to production\n", "    dependsOn: []\n"),
    )
    outcome = ordered()
    assert outcome.status == "fail"
    assert places(outcome) == ["azure-pipelines.yml:22"]
    assert "DeployProd DeployWeb waits for no test job" in outcome.detail


def test_azure_condition_always_runs_after_failed_tests(tree):
    write(
        tree,
        "azure-pipelines.yml",
        AZURE.replace(
            "    displayName: Deploy to production\n", "    condition: succeededOrFailed()\n"
        ),
    )
    assert "runs even when the jobs before it fail" in ordered().detail


def test_azure_jobs_ordered_by_depends_on(tree):
    jobs = """\
jobs:
  - job: Test
    steps:
      - task: DotNetCoreCLI@2
        inputs: {command: test, projects: '**/*Tests.csproj'}
  - deployment: Production
    dependsOn: Test
    environment: production
    strategy:
      runOnce:
        deploy:
          steps: [{script: ./deploy.sh}]
"""
    write(tree, "azure-pipelines.yml", jobs)
    assert ordered().status == "pass"
    write(tree, "azure-pipelines.yml", jobs.replace("    dependsOn: Test\n", ""))
    assert places(ordered()) == ["azure-pipelines.yml:6"]


# Jenkins


def test_jenkins_deploy_before_the_tests_fails(tree):
    test_stage = JENKINSFILE[
        JENKINSFILE.index("        stage('Test')") : JENKINSFILE.index("        stage('Deploy')")
    ]
    moved = JENKINSFILE.replace(test_stage, "").replace("    }\n}\n", test_stage + "    }\n}\n")
    write(tree, "Jenkinsfile", moved)
    outcome = ordered()
    assert outcome.status == "fail"
    assert places(outcome) == [f"Jenkinsfile:{line(moved, '        stage(' + chr(39) + 'Deploy')}"]
    assert "Deploy waits for no test job (only for Install)" in outcome.detail


def test_jenkins_parallel_tests_then_deploy_and_deploy_beside_tests(tree):
    text = """\
pipeline {
  agent any
  stages {
    stage('Checks') {
      parallel {
        stage('Unit') { steps { sh 'make test' } }
        stage('Lint') { steps { sh 'make lint' } }
        stage('Preview') { steps { sh './deploy.sh preview' } }
      }
    }
    stage('Production') {
      steps {
        sh label: 'Roll out', script: '''
          kubectl set image deployment/shop shop=registry/shop:${GIT_COMMIT}
        '''
      }
    }
  }
}
"""
    write(tree, "Jenkinsfile", text)
    outcome = ordered()
    assert outcome.status == "fail"
    assert places(outcome) == ["Jenkinsfile:8"]
    assert "Checks › Preview" in outcome.detail


def test_jenkins_scripted_pipeline(tree):
    write(
        tree,
        "Jenkinsfile",
        """\
node('linux') {
  checkout scm
  stage("Test") {
    sh "./gradlew check"
  }
  stage("Publish") {
    if (env.BRANCH_NAME == 'main') {
      sh "./gradlew publish"
    }
  }
}
""",
    )
    assert ordered().status == "pass"


def test_an_unreadable_jenkinsfile_is_named(tree):
    write(
        tree,
        "Jenkinsfile",
        "pipeline {\n  stages {\n    stage('Test') { steps { sh 'make test' } }\n",
    )
    outcome = check("ci_workflow_exists")
    assert outcome.status == "fail"
    assert "Jenkinsfile:2: cannot be read (a '{' that is never closed)" in outcome.detail


def test_the_demo_trees_ci002(settings):
    settings.PREFLIGHT_REPOSITORY_ROOT = Path(__file__).resolve().parents[2] / "demo"
    review = evaluate(
        context("repository", {"rule": "ci_tests_before_deploy", "path": "liquor-pos/1.0.0"})
    )
    assert review.status == "fail"
    fixed = evaluate(
        context("repository", {"rule": "ci_tests_before_deploy", "path": "liquor-pos/1.1.0"})
    )
    assert fixed.status == "pass"
    assert "deploy (.github/workflows/deploy.yml)" in fixed.detail


@pytest.mark.parametrize("config", [{"test_jobs": []}, {"deploy_jobs": [""]}, {"files": ["x"]}])
def test_bad_settings_are_refused(config):
    with pytest.raises(ConfigError):
        get_kind("repository").validate({"rule": "ci_tests_before_deploy", "path": ".", **config})


def test_one_pattern_is_a_list_of_one():
    rule = {"rule": "ci_tests_before_deploy", "path": ".", "deploy_jobs": "ship"}
    assert get_kind("repository").validate(rule)["deploy_jobs"] == ["ship"]
