"""deploy/prometheus/alerts.yaml passes ``promtool check rules`` and its unit tests
(``promtool test rules``); the Grafana dashboard and the rules query only metrics that are
exported (the metrics tables of docs/operations.md, which the metrics pages' tests hold to
what the API and the worker export)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.support.promtool import documented_metrics, promtool

ROOT = Path(__file__).parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yaml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "alerts.test.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "pipeline-engine.json"
OURS = re.compile(r"\b((?:pipeline_engine|http_server|temporal)_[a-z_]+)\b")
HISTOGRAM_SERIES = ("_bucket", "_count", "_sum")


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_rules_are_valid() -> None:
    done = run_promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr


def test_rules_unit_tests_pass() -> None:
    done = run_promtool("test", "rules", str(RULE_TESTS))
    assert done.returncode == 0 and "SUCCESS" in done.stdout, done.stdout + done.stderr


def test_every_alert_has_a_unit_test() -> None:
    alerts = {
        rule["alert"]
        for group in yaml.safe_load(RULES.read_text())["groups"]
        for rule in group["rules"]
    }
    tested = {
        case["alertname"]
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    assert alerts == tested, sorted(alerts ^ tested)
    wanted = {"QueueBacklogGrowing", "FailureRateHigh", "TemporalUnreachable", "PayloadStoreErrors"}
    assert {f"PipelineEngine{name}" for name in wanted} <= alerts


def dashboard_exprs() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    exprs: list[str] = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            exprs.append(target["expr"])
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    return exprs


def rule_exprs() -> list[str]:
    groups: list[dict[str, Any]] = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def queried(exprs: list[str]) -> set[str]:
    """The metric names in ``exprs``; a histogram's series (``_bucket``, ``_count``, ``_sum``)
    by the histogram's name, the one its metrics page and the docs give."""
    names = {name for expr in exprs for name in OURS.findall(expr)}
    return {_histogram(name) for name in names}


def _histogram(name: str) -> str:
    for suffix in HISTOGRAM_SERIES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def test_dashboard_and_rules_query_only_exported_metrics() -> None:
    exported = documented_metrics()
    for source, exprs in (("dashboard", dashboard_exprs()), ("rules", rule_exprs())):
        names = queried(exprs)
        assert names, source
        missing = {name for name in names if name not in exported}
        assert not missing, (source, sorted(missing))


def test_dashboard_covers_pipelines_stages_queues_and_the_api() -> None:
    board = json.loads(DASHBOARD.read_text())
    rows = [panel["title"] for panel in board["panels"] if panel["type"] == "row"]
    assert rows == ["Pipelines", "Stages", "Task queues", "API"]
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    names = queried(dashboard_exprs())
    assert {
        "pipeline_engine_pipeline_transitions_total",
        "pipeline_engine_stage_duration_seconds",
        "pipeline_engine_task_queue_backlog",
        "pipeline_engine_task_queue_backlog_age_seconds",
        "http_server_request_duration_seconds",
    } <= names
