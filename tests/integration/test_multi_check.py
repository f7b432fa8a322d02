"""Several checks in one task: `validate,htx` checks every line with each, writes one results
file (Number, then each check's columns in the order asked) and costs a credit per line per
check; a name the caller may not use is refused, naming it."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from tests.helpers import (
    download_zip,
    ledger_by_user,
    metered_user,
    submit,
    wait_for_status,
)

VALIDATE = "valid,type,region,carrier,timezones,national,international,country,location,reason"
LINES = b"+12025550101\n+12025550102\nnot a number\n+4915112345678\n"


def rows(status: dict) -> list[list[str]]:
    return list(csv.reader(io.StringIO(download_zip(status)["results.csv"])))


def test_validate_and_a_registry_in_one_task(start_server, tmp_path: Path) -> None:
    server = start_server(chunk_lines=2)
    registry = tmp_path / "accounts.txt"
    registry.write_text("+12025550101\n+4915112345678\n")
    assert server.cli("registry", "load", "htx", str(registry)).returncode == 0
    key = metered_user(server, "both", 100)
    assert server.cli("registry", "grant", "htx", "--user", "both").returncode == 0
    with server.client(key) as client:
        created = submit(client, LINES, task_type="validate,htx")
        assert created.status_code == 200, created.text
        both = wait_for_status(client, created.json()["task_id"])
        alone = wait_for_status(client, submit(client, LINES).json()["task_id"])
        in_order = wait_for_status(
            client, submit(client, LINES, task_type="htx,validate").json()["task_id"]
        )
        checks = client.get("/v1/checks").json()
    combined = rows(both)
    assert combined[0] == ["Number", *VALIDATE.split(","), "htx"]
    # The validate columns are the single check's exactly; the registry's come after them.
    assert [row[:-1] for row in combined] == rows(alone)
    assert [row[-1] for row in combined[1:]] == ["yes", "no", "yes"]
    reordered = rows(in_order)
    assert reordered[0][:2] == ["Number", "htx"]
    assert [row[:2] for row in reordered[1:]] == [[r[0], r[-1]] for r in combined[1:]]
    assert (both["total"], both["success"], both["failure"]) == (4, 3, 1)
    assert download_zip(both)["failed.csv"].splitlines()[1] == "3,not a number,not_a_number"
    summary = json.loads(download_zip(both)["summary.json"])
    assert summary["check"]["name"] == "validate,htx"
    assert [c["name"] for c in summary["check"]["checks"]] == ["validate", "htx"]
    assert summary["check"]["checks"][1]["registry_version"] == 1
    # A credit a line a check: two checks, three answered lines, three more for validate
    # alone, and three for the reordered pair.
    assert ledger_by_user(server, "both") == {
        "set": 100,
        "reserve": 4 * 2 + 4 + 4 * 2,
        "charge": 3 * 2 + 3 + 3 * 2,
        "release": 1 * 2 + 1 + 1 * 2,
    }
    assert all(check["combinable"] for check in checks)


def test_names_that_are_unknown_or_not_granted_are_refused_naming_them(start_server) -> None:
    server = start_server()
    registry = server.data_dir.parent / "r.txt"
    registry.write_text("+12025550101\n")
    assert server.cli("registry", "load", "crm", str(registry)).returncode == 0
    key = metered_user(server, "short", 3)
    with server.client(key) as client:
        for task_type, named in (
            ("validate,whatsapp", ["'whatsapp'"]),
            ("crm,validate,nope", ["'crm'", "'nope'"]),  # crm exists, but not for this user
        ):
            refused = submit(client, b"+12025550101\n", task_type=task_type)
            assert refused.status_code == 400 and refused.json()["code"] == "unknown_task_type"
            message = refused.json()["message"]
            assert all(name in message for name in named), message
            assert "your checks are: validate" in message
        for task_type in ("validate,validate", "validate,", " , "):
            refused = submit(client, b"+12025550101\n", task_type=task_type)
            assert refused.status_code == 400, task_type
            assert refused.json()["code"] == "invalid_request"
        # Two checks of two lines need four credits: three are short of them.
        short = submit(client, b"+12025550101\n+12025550102\n", task_type="validate,validate2")
        assert short.json()["code"] == "unknown_task_type"
        assert server.cli("registry", "grant", "crm", "--user", "short").returncode == 0
        short = submit(client, b"+12025550101\n+12025550102\n", task_type="validate,crm")
        assert short.status_code == 402 and short.json()["required"] == 4
        assert client.get("/v1/tasks").json()["tasks"] == []
    assert ledger_by_user(server, "short") == {"set": 3}
