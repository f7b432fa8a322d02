"""Registry checks end to end: loads, exact answers, no plaintext kept, versions, grants."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import phonenumbers
import pytest

from tests.helpers import (
    Server,
    download_zip,
    german_mobiles,
    load_api,
    numcheck_cli,
    submit,
    wait_for_status,
)


def load_cli(server: Server, name: str, path: Path, *extra: str) -> str:
    result = numcheck_cli(
        server.data_dir, "registry", "load", name, str(path), *extra, env=server.env
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def results_of(status: dict) -> tuple[list[list[str]], dict]:
    files = download_zip(status)
    return list(csv.reader(io.StringIO(files["results.csv"]))), json.loads(files["summary.json"])


@pytest.mark.slow
def test_200k_line_task_answers_exactly_and_no_plaintext_is_kept(
    start_server, tmp_path: Path
) -> None:
    server = start_server()
    members = german_mobiles(50_000, seed=1)
    source = tmp_path / "members.txt"
    source.write_text("\n".join(members) + "\n")
    out = load_cli(server, "htx", source)
    assert "50000" in out

    # Before any task runs: no spelling of any member anywhere in the data dir or the database.
    spellings = set()
    for number in members[:300]:
        parsed = phonenumbers.parse(number)
        national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
        spellings |= {number, number[1:], national, "".join(filter(str.isdigit, national))}
    blobs = b"".join(p.read_bytes() for p in server.data_dir.rglob("*") if p.is_file())
    with sqlite3.connect(server.data_dir / "numcheck.db") as db:
        dump = "\n".join(db.iterdump()).encode()
    for spelling in spellings:
        assert spelling.encode() not in blobs and spelling.encode() not in dump, "plaintext kept"

    rng = random.Random(2)
    strangers = german_mobiles(150_000, seed=3)
    member_set = set(members)
    lines = members + [s for s in strangers if s not in member_set]
    rng.shuffle(lines)
    lines = lines[:200_000]
    with server.client(server.admin_key) as client:
        created = submit(client, ("\n".join(lines) + "\n").encode(), task_type="htx")
        assert created.status_code == 200, created.text
        status = wait_for_status(client, created.json()["task_id"], timeout=300)
    rows, summary = results_of(status)
    assert rows[0] == ["Number", "htx"]
    assert rows[1:] == [[n, "yes" if n in member_set else "no"] for n in lines]
    assert summary["check"] == {
        "name": "htx",
        "registry_version": 1,
        "registry_entries": 50_000,
        "reference_fallbacks": 0,
    }


def test_answers_come_from_the_version_a_task_started_with(start_server, tmp_path: Path) -> None:
    server = start_server(workers=1, chunk_lines=2_000)
    first, second = german_mobiles(1_000, seed=10), german_mobiles(1_000, seed=11)
    with server.client(server.admin_key) as client:
        assert load_api(client, "htx", "\n".join(first).encode()).json()["version"] == 1
        lines = (first * 60)[:60_000]
        task_id = submit(client, "\n".join(lines).encode(), task_type="htx").json()["task_id"]
        # Swap the registry while the task is running.
        deadline = time.monotonic() + 60
        while client.get(f"/v1/tasks/{task_id}").json()["success"] == 0:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        swapped = load_api(client, "htx", "\n".join(second).encode())
        assert swapped.json()["version"] == 2
        assert client.get(f"/v1/tasks/{task_id}").json()["status"] == "processing"
        status = wait_for_status(client, task_id)
        rows, summary = results_of(status)
        assert {row[1] for row in rows[1:]} == {"yes"}  # every chunk answered from version 1
        assert len(rows) == 60_001
        assert summary["check"]["registry_version"] == 1
        # A new task uses version 2; version 1's snapshot went once its last task finished.
        later = submit(client, f"{first[0]}\n{second[0]}\n".encode(), task_type="htx").json()[
            "task_id"
        ]
        rows, summary = results_of(wait_for_status(client, later))
        assert rows[1:] == [[first[0], "no"], [second[0], "yes"]]
        assert summary["check"]["registry_version"] == 2
    snapshots = sorted(p.name for p in (server.data_dir / "blobs" / "registries" / "htx").iterdir())
    assert snapshots == ["000002.u64"]


def test_grants_decide_who_sees_a_registry(start_server, tmp_path: Path) -> None:
    server = start_server()
    source = tmp_path / "r.txt"
    source.write_text("+12025550101\n")
    load_cli(server, "htx", source)
    dana_key = server.create_key("dana")
    with server.client(dana_key) as dana:
        hidden = submit(dana, b"+12025550101\n", task_type="htx")
        made_up = submit(dana, b"+12025550101\n", task_type="hty")
        assert hidden.status_code == made_up.status_code == 400
        assert hidden.json()["code"] == made_up.json()["code"] == "unknown_task_type"
        assert hidden.json()["message"].replace("'htx'", "'hty'") == made_up.json()["message"]
        assert [c["name"] for c in dana.get("/v1/checks").json()] == ["validate"]

        assert server.cli("registry", "grant", "htx", "--user", "dana").returncode == 0
        checks = {c["name"]: c for c in dana.get("/v1/checks").json()}
        assert checks["htx"]["columns"] == ["Number", "htx"]
        granted = submit(dana, b"+12025550101\n+12025550102\n", task_type="htx")
        assert granted.status_code == 200
        rows, _ = results_of(wait_for_status(dana, granted.json()["task_id"]))
        assert rows[1:] == [["+12025550101", "yes"], ["+12025550102", "no"]]

        assert server.cli("registry", "revoke", "htx", "--user", "dana").returncode == 0
        assert submit(dana, b"+12025550101\n", task_type="htx").status_code == 400

        # Registry administration is for admins only.
        for response in (
            dana.get("/v1/registries"),
            load_api(dana, "htx", b"+12025550199\n"),
            dana.delete("/v1/registries/htx"),
        ):
            assert response.status_code == 403 and response.json()["code"] == "forbidden"
    with server.client(server.admin_key) as admin:
        listed = admin.get("/v1/registries").json()
        assert [(r["name"], r["version"], r["entries"]) for r in listed] == [("htx", 1, 1)]


def test_registry_api_errors_change_nothing(start_server) -> None:
    server = start_server()
    with server.client(server.admin_key) as admin:

        def unchanged() -> None:
            assert admin.get("/v1/registries").json() == []
            assert not (server.data_dir / "blobs" / "registries").exists() or not any(
                (server.data_dir / "blobs" / "registries").rglob("*.u64")
            )

        bad_mode = load_api(admin, "htx", b"+12025550101\n", mode="merge")
        assert bad_mode.status_code == 400 and bad_mode.json()["code"] == "invalid_request"
        late_column = admin.post(
            "/v1/registries/htx",
            files=[("file", ("r.csv", b"phone\n+12025550101\n")), ("column", (None, "phone"))],
        )
        assert late_column.status_code == 400 and "before the file" in late_column.json()["message"]
        missing_column = load_api(admin, "htx", b"tel\n+12025550101\n", column="phone")
        assert missing_column.status_code == 400
        bad_name = load_api(admin, "Bad Name", b"+12025550101\n")
        assert bad_name.status_code == 400
        builtin = load_api(admin, "validate", b"+12025550101\n")
        assert builtin.status_code == 400
        assert admin.delete("/v1/registries/nope").status_code == 404
        unchanged()

        ok = load_api(admin, "crm", b"id,phone\n1,+12025550101\n2,n/a\n", column="phone")
        assert ok.status_code == 200, ok.text
        body = ok.json()
        assert (body["entries"], body["invalid"]) == (1, {"count": 1, "first_lines": [3]})
        assert admin.delete("/v1/registries/crm").status_code == 204
        unchanged()


def test_a_machine_with_another_registry_key_is_refused_on_a_shared_database(tmp_path) -> None:
    """Scale-out: every machine must hash with one key, or lookups silently answer "no"."""
    from tests.helpers import fresh_postgres

    source = tmp_path / "members.txt"
    source.write_text("+4915112345678\n")
    with fresh_postgres() as database:
        first = Server(
            tmp_path / "machine-a",
            env={"NUMCHECK_DATABASE_URL": database, "NUMCHECK_REGISTRY_KEY": "aa" * 32},
        )
        assert first.cli("db", "upgrade").returncode == 0
        load_cli(first, "htx", source)
        # Another machine that forgot NUMCHECK_REGISTRY_KEY (its data dir generates its own).
        other = Server(tmp_path / "machine-b", env={"NUMCHECK_DATABASE_URL": database})
        hint = "set NUMCHECK_REGISTRY_KEY to the same value on every machine"

        refused_load = other.cli("registry", "load", "htx", str(source), "--add")
        assert refused_load.returncode == 1 and hint in refused_load.stderr
        listed = first.cli("registry", "list")
        assert listed.returncode == 0 and "htx" in listed.stdout
        with pytest.raises(RuntimeError, match="NUMCHECK_REGISTRY_KEY"):
            other.start(timeout=30)
        worker = subprocess.run(
            [sys.executable, "-m", "numcheck", "worker"],
            env={
                **os.environ,
                "NUMCHECK_DATA_DIR": str(other.data_dir),
                "NUMCHECK_DATABASE_URL": database,
                "NUMCHECK_BROKER_URL": "redis://127.0.0.1:6379/0",
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert worker.returncode == 1 and hint in worker.stderr
        # Nothing was published by the refused load: still version 1 only.
        import psycopg

        def versions() -> list[tuple[str, int]]:
            with psycopg.connect(database.replace("+psycopg", "")) as db:
                return db.execute("SELECT name, version FROM registry_versions").fetchall()

        assert versions() == [("htx", 1)]
        # A key changed on purpose: a full load under it; then the old key is the odd one out.
        rekey = other.cli("registry", "load", "htx", str(source), "--new-key", "--add")
        assert rekey.returncode == 1 and "in full" in rekey.stderr
        assert other.cli("registry", "load", "htx", str(source), "--new-key").returncode == 0
        assert versions() == [("htx", 2)]  # version 1 is collected: no task uses it
        stale = first.cli("registry", "load", "htx", str(source), "--add")
        assert stale.returncode == 1 and hint in stale.stderr


def test_a_worker_started_before_the_first_load_with_another_key_fails_the_task(tmp_path) -> None:
    """The runtime guard: a worker whose key differs never answers; the task fails, uncharged."""
    from tests.helpers import broker, fresh_postgres

    source = tmp_path / "members.txt"
    source.write_text("+4915112345678\n")
    with fresh_postgres() as database, broker("redis") as broker_url:
        env = {
            "NUMCHECK_DATABASE_URL": database,
            "NUMCHECK_BROKER_URL": broker_url,
            "NUMCHECK_CHUNK_MAX_ATTEMPTS": "1",
            "NUMCHECK_REGISTRY_KEY": "aa" * 32,
        }
        server = Server(tmp_path / "api", env=env, worker_count=0)
        assert server.cli("db", "upgrade").returncode == 0
        server.start()
        try:
            # Started while no registry exists, so its start-up check had nothing to compare.
            server.env = {**env, "NUMCHECK_REGISTRY_KEY": "bb" * 32}
            server.start_worker()
            server.env = env
            deadline = time.monotonic() + 60
            while "ready." not in server.worker_logs[0].read_text():  # past its start-up check
                assert time.monotonic() < deadline, server.worker_logs[0].read_text()
                time.sleep(0.2)
            load_cli(server, "htx", source)
            with server.client(server.admin_key) as client:
                task_id = submit(client, b"+4915112345678\n", "htx").json()["task_id"]
                status = wait_for_status(client, task_id, ("failed",), timeout=60)
                assert client.get("/v1/account").json()["credits"]["charged_this_month"] == 0
        finally:
            server.stop()
    assert "failed 1 times" in status["message"]
    log = server.worker_logs[0].read_text()
    assert "set NUMCHECK_REGISTRY_KEY to the same value on every machine" in log
