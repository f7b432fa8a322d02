"""Real-time lookups over HTTP: the same answers as a task's results.csv row, the same checks,
grants and credits, no task and no worker needed."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from numcheck.client import Client, InsufficientCredits
from tests.helpers import (
    Server,
    broker,
    download_zip,
    fresh_postgres,
    ledger_by_user,
    metered_user,
    submit,
    wait_for_status,
)

LINES = ["+12025550101", " 0044 20 7946 0958 ", "not a number", "+4915112345678", "+999 123"]


def lookup(client, numbers, task_type="validate", **fields):  # type: ignore[no-untyped-def]
    return client.post("/v1/lookup", json={"numbers": numbers, "task_type": task_type, **fields})


def test_a_lookup_answers_what_a_task_would_and_charges_the_answers(start_server) -> None:
    server = start_server()
    registry = server.data_dir.parent / "accounts.txt"
    registry.write_text("+4915112345678\n")
    assert server.cli("registry", "load", "htx", str(registry)).returncode == 0
    key = metered_user(server, "kyc", 100)
    assert server.cli("registry", "grant", "htx", "--user", "kyc").returncode == 0
    with server.client(key) as client:
        answered = lookup(client, LINES, "validate,htx")
        assert answered.status_code == 200, answered.text
        results = answered.json()["results"]
        task = wait_for_status(
            client,
            submit(client, "\n".join(LINES).encode(), task_type="validate,htx").json()["task_id"],
        )
    files = download_zip(task)
    rows = list(csv.DictReader(io.StringIO(files["results.csv"])))
    failed = list(csv.DictReader(io.StringIO(files["failed.csv"])))
    assert [r["input"] for r in results] == LINES  # in order, as sent
    answers = [{k: v for k, v in r.items() if k != "input"} for r in results if "failure" not in r]
    assert answers == rows  # the fields and values of the task's rows, exactly
    assert [r["failure"] for r in results if "failure" in r] == [f["reason"] for f in failed]
    assert results[3]["htx"] == "yes" and results[0]["htx"] == "no"
    # Three answered numbers, two checks: six credits; the two failures are free.
    assert ledger_by_user(server, "kyc")["charge"] == 6 + 3 * 2
    assert client_balance(server, key) == 100 - 6 - 6


def client_balance(server: Server, key: str) -> int:
    with server.client(key) as client:
        return client.get("/v1/account").json()["credits"]["balance"]


def test_refused_lookups_charge_nothing(start_server) -> None:
    server = start_server()
    key = metered_user(server, "short", 2)
    with server.client(key) as client:
        too_many = lookup(client, ["+12025550101"] * 1001)
        assert too_many.status_code == 413 and too_many.json()["code"] == "too_many_lines"
        too_long = lookup(client, ["+1" + "2" * 2000])
        assert too_long.status_code == 413 and too_long.json()["code"] == "line_too_long"
        unknown = lookup(client, ["+12025550101"], "validate,htx")
        assert unknown.status_code == 400 and unknown.json()["code"] == "unknown_task_type"
        empty = lookup(client, [])
        assert empty.status_code == 400 and empty.json()["code"] == "invalid_request"
        region = lookup(client, ["2025550101"], default_region="XX")
        assert region.status_code == 400
        short = lookup(client, ["+12025550101", "+12025550102", "+12025550103"])
        assert short.status_code == 402 and short.json()["required"] == 3
        assert client_balance(server, key) == 2
        national = lookup(client, ["(202) 555-0101", "junk"], default_region="us")
        assert national.status_code == 200
        assert national.json()["results"][0]["Number"] == "+12025550101"
        assert client_balance(server, key) == 1  # one answer, one check
    assert ledger_by_user(server, "short") == {"set": 2, "charge": 1}


def test_lookups_need_no_worker_in_scale_out(tmp_path: Path) -> None:
    with fresh_postgres() as database, broker("redis") as broker_url:
        env = {"NUMCHECK_DATABASE_URL": database, "NUMCHECK_BROKER_URL": broker_url}
        server = Server(tmp_path / "data", env=env, worker_count=0)
        assert server.cli("db", "upgrade").returncode == 0
        server.start()
        try:
            with server.client(server.admin_key) as client:
                answered = lookup(client, ["+12025550101"])
            assert answered.status_code == 200, answered.text
            assert answered.json()["results"][0]["valid"] == "yes"
        finally:
            server.stop()


def test_client_and_cli_lookup(start_server) -> None:
    server = start_server()
    key = metered_user(server, "form", 4)
    with Client(server.url, key) as client:
        answered = client.lookup(["+4915112345678", "nope"])
        assert answered[0]["input"] == "+4915112345678" and answered[0]["type"] == "mobile"
        assert answered[1] == {"input": "nope", "failure": "not_a_number"}
        national = client.lookup(["030 901820"], default_region="DE")
        assert national[0]["Number"] == "+4930901820" and national[0]["country"] == "Germany"
        with pytest.raises(InsufficientCredits):
            client.lookup(["+12025550101"] * 3)
    env = {**os.environ, "NUMCHECK_SERVER": server.url, "NUMCHECK_API_KEY": key}
    command = [sys.executable, "-m", "numcheck", "lookup"]
    as_json = subprocess.run(
        [*command, "+12025550101", "--json"], env=env, capture_output=True, text=True
    )
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)[0]["region"] == "US"
    plain = subprocess.run([*command, "+4930901820", "x"], env=env, capture_output=True, text=True)
    header, first, second = plain.stdout.splitlines()
    assert header.split("\t")[:3] == ["input", "Number", "valid"]
    assert first.split("\t")[1] == "+4930901820" and second.split("\t")[-1] == "not_a_number"
    refused = subprocess.run(
        [*command, "+12025550101", "--type", "htx"], env=env, capture_output=True, text=True
    )
    assert refused.returncode == 4 and "unknown_task_type" in refused.stderr
    assert client_balance(server, key) == 0  # 1 + 1 + 1 + 1 answers; refusals free
