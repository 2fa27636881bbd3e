"""Log formats: readable lines for make run, JSON objects in production, the same fields in each.
The production server's own lines are read in test_servers.py."""

from __future__ import annotations

import json
import logging

import pytest
from pythonjsonlogger.json import JsonFormatter

from audit import context
from preflight.observability.logs import ContextFilter, RequestInfo, current, logging_config


def _record(message: str = "checked %s") -> logging.LogRecord:
    record = logging.LogRecord("checks.runs", logging.INFO, __file__, 1, message, ("it",), None)
    ContextFilter().filter(record)
    return record


@pytest.fixture
def in_request() -> object:
    rid = context.request_id.set("rid-42")
    info = current.set(RequestInfo(route="api:gate", project="shop", actor="token:ci"))
    yield
    current.reset(info)
    context.request_id.reset(rid)


def test_make_run_prints_readable_lines_with_the_request_context(in_request) -> None:
    config = logging_config("plain", "INFO")["formatters"]["line"]
    line = logging.Formatter(config["format"]).format(_record())
    assert line.endswith("INFO checks.runs [rid-42 token:ci api:gate] checked it")
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_production_prints_one_json_object_per_record_with_the_request_context(in_request) -> None:
    config = dict(logging_config("json", "INFO")["formatters"]["line"])
    config.pop("()")
    line = JsonFormatter(**config).format(_record())
    assert "\n" not in line
    assert json.loads(line) | {"time": "-"} == {
        "time": "-",
        "level": "INFO",
        "logger": "checks.runs",
        "message": "checked it",
        "request_id": "rid-42",
        "actor": "token:ci",
        "project": "shop",
        "route": "api:gate",
    }


def test_a_record_outside_any_request_says_so() -> None:
    record = _record()
    assert (record.request_id, record.actor, record.project, record.route) == ("-", "-", "-", "-")  # type: ignore[attr-defined]
