"""The client installs on its own: no dependencies, a console script that resolves, nothing
imported beyond the standard library."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import tomllib

import preflight_client

from .conftest import CLIENT_DIR


def project() -> dict:
    with (CLIENT_DIR / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)["project"]


def test_the_package_has_no_dependencies_and_its_version_matches():
    meta = project()
    assert meta["name"] == "preflight-client"
    assert meta["dependencies"] == []
    assert meta["version"] == preflight_client.__version__


def test_the_preflight_console_script_names_a_function_that_exists():
    module, _, name = project()["scripts"]["preflight"].partition(":")
    assert callable(getattr(importlib.import_module(module), name))


def test_every_module_imports_only_the_standard_library_and_itself():
    outside = set()
    for source in (CLIENT_DIR / "preflight_client").glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("preflight_client",):
                    outside.add(f"{source.name}: {name}")
    assert outside == set()


def test_it_runs_without_site_packages():
    done = subprocess.run(
        [sys.executable, "-S", "-m", "preflight_client", "--version"],
        env={"PYTHONPATH": str(CLIENT_DIR)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, f"preflight {preflight_client.__version__}\n")
