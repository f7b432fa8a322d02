"""The deployment examples in deploy/ stay true to the code: real commands, real settings, a
configuration that validates, units that systemd accepts. (No Docker engine runs here, so the
compose file is checked, not run.)"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from numcheck.config import Settings

DEPLOY = Path(__file__).parents[1] / "deploy"
NUMCHECK = "/opt/numcheck/.venv/bin/numcheck"
COMMANDS = {("serve",), ("worker",), ("db", "upgrade")}


def variables(text: str) -> set[str]:
    return set(re.findall(r"\bNUMCHECK_([A-Z_]+[A-Z])\b", text))


def test_every_variable_in_the_examples_is_a_setting() -> None:
    known = {name.upper() for name in Settings.model_fields}
    for path in DEPLOY.rglob("*"):
        if path.is_file():
            unknown = variables(path.read_text()) - known
            assert unknown == set(), f"{path.name}: {unknown}"


def test_the_compose_file_runs_numcheck_commands_with_a_valid_configuration(monkeypatch) -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    numcheck = {name: s for name, s in services.items() if s.get("image") == "numcheck:local"}
    assert {name: tuple(s["command"]) for name, s in numcheck.items()} == {
        "migrate": ("db", "upgrade"),
        "api": ("serve",),
        "worker": ("worker",),
    }
    for service in numcheck.values():
        for name, value in service["environment"].items():
            monkeypatch.setenv(name, str(value))
        Settings()  # the mix is one that works (shared database, broker, S3)
    for dependency in {d for s in numcheck.values() for d in s.get("depends_on", {})}:
        assert dependency in services


def test_the_environment_file_is_a_valid_configuration(monkeypatch) -> None:
    for line in (DEPLOY / "numcheck.env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            assert "#" not in value, "systemd's EnvironmentFile has no trailing comments"
            monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.broker_url and settings.database_url and settings.storage_url
    assert settings.registry_key is not None  # one key on every machine


@pytest.mark.parametrize("unit", ["numcheck-api.service", "numcheck-worker.service"])
def test_systemd_units(unit: str, tmp_path: Path) -> None:
    text = (DEPLOY / "systemd" / unit).read_text()
    exec_start = re.search(r"^ExecStart=(\S+) (.+)$", text, re.MULTILINE)
    assert exec_start and exec_start[1] == NUMCHECK
    assert tuple(exec_start[2].split()) in COMMANDS
    assert "EnvironmentFile=/etc/numcheck/numcheck.env" in text
    assert re.search(r"^UMask=0077$", text, re.MULTILINE)  # files it creates are its own only
    if shutil.which("systemd-analyze") is None:
        return
    # systemd's own check, with ExecStart pointing at this checkout's numcheck.
    here = Path(sys.executable).parent / "numcheck"
    (tmp_path / unit).write_text(text.replace(NUMCHECK, str(here)))
    verified = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / unit)],
        capture_output=True,
        text=True,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"},
        check=False,
    )
    assert verified.returncode == 0 and verified.stderr == "", verified.stderr


def test_the_readme_names_the_examples() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for path in (
        "deploy/compose.yaml",
        "deploy/numcheck.env",
        "deploy/systemd/",
        "deploy/Dockerfile",
        "deploy/grafana/numcheck-dashboard.json",
        "deploy/prometheus/numcheck.rules.yaml",
        "deploy/prometheus/prometheus.yaml",
    ):
        assert path in readme


def exported_series(tmp_path: Path) -> set[str]:
    """Every series name a scrape of numcheck can hold: the families of the registry a scrape
    reads (database gauges included, and families with no sample yet), with their counter and
    histogram suffixes."""
    from numcheck.accounts.limits import MemoryRateLimiter
    from numcheck.api import scrape
    from numcheck.storage import db
    from numcheck.storage.stores import Stores

    stores = Stores.open(Settings(data_dir=tmp_path / "data"))
    try:
        db.prepare(stores.engine, embedded=True)
        families = list(scrape.registry(stores, MemoryRateLimiter(1, 1)).collect())
    finally:
        stores.close()
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    names = set()
    for family in families:
        if family.name.startswith("numcheck_"):
            names |= {family.name + s for s in suffixes.get(family.type, ("",))}
    return names


def referenced(expression: str) -> set[str]:
    return set(re.findall(r"\bnumcheck_[a-z_]+\b", expression))


def test_the_alert_rules_parse_and_use_metrics_that_exist(tmp_path: Path) -> None:
    exported = exported_series(tmp_path)
    assert "numcheck_http_requests_total" in exported  # the scrape above worked
    rules = yaml.safe_load((DEPLOY / "prometheus" / "numcheck.rules.yaml").read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert {"NumcheckHighErrorRate", "NumcheckQueueStalled", "NumcheckWorkerAbsent"} <= {
        rule["alert"] for rule in alerts
    }
    for rule in alerts:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in {"page", "warn"}
        assert rule["annotations"]["summary"]
        assert referenced(rule["expr"]) <= exported, rule["alert"]
        if "for" in rule:
            assert re.fullmatch(r"\d+[smh]", rule["for"])
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yaml").read_text())
    assert config["rule_files"] == ["numcheck.rules.yaml"]
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert {"numcheck-api", "numcheck-worker"} == jobs
    assert 'job="numcheck-worker"' in str(rules)  # the absence alert watches that job


def test_the_grafana_dashboard_parses_and_uses_metrics_that_exist(tmp_path: Path) -> None:
    import json

    exported = exported_series(tmp_path)
    dashboard = json.loads((DEPLOY / "grafana" / "numcheck-dashboard.json").read_text())
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = set().union(*(referenced(e) for e in expressions))
    assert used <= exported, used - exported
    for family in (
        "http_requests",
        "http_request_duration_seconds",
        "queue_chunks",
        "lines_checked",
    ):
        assert any(f"numcheck_{family}" in name for name in used), family
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for expression in expressions:  # brackets balance: a typo that Grafana would show as an error
        assert expression.count("(") == expression.count(")"), expression
        assert expression.count("{") == expression.count("}"), expression
