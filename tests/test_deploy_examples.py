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
    ):
        assert path in readme
