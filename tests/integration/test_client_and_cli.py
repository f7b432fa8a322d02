"""The Python client and the client commands against a live server."""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

from numcheck.client import (
    AsyncClient,
    Client,
    InvalidRequest,
    NotFound,
    NumcheckClientError,
    TaskFailed,
    TaskNotFinished,
    Unauthorized,
)
from tests.helpers import Server, in_modes


def cli(
    server: Server, key: str, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "numcheck", *args],
        env={**os.environ, "NUMCHECK_SERVER": server.url, "NUMCHECK_API_KEY": key},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_submit_wait_download_rows(server: Server, tmp_path: Path) -> None:
    key = server.create_key("scripter")
    numbers = [f"+4915112345{i:03d}" for i in range(2500)] + ["oops"]
    seen: list[int] = []
    with Client(server.url, key) as client:
        task = client.submit(iter(numbers), "validate")
        task.wait(poll=0.05, on_progress=lambda t: seen.append(t.done))
        assert seen == sorted(seen) and seen[-1] == 2501  # growing counts
        archive = task.download(tmp_path / "out.zip")
        with zipfile.ZipFile(archive) as opened:
            server_rows = list(csv.DictReader(io.StringIO(opened.read("results.csv").decode())))
        assert list(task.rows()) == server_rows
        assert len(server_rows) == 2500 and server_rows[0]["Number"] == numbers[0]
        assert [c["name"] for c in client.checks()] == ["validate"]
        with pytest.raises(InvalidRequest) as refused:
            client.submit(iter(["+12025550101"]), "nope")
        assert refused.value.code == "unknown_task_type"
        cancelled = client.submit(iter(["+12025550101"] * 50_000), "validate")
        httpx.delete(f"{server.url}/v1/tasks/{cancelled.id}", headers={"X-API-Key": key})
        with pytest.raises(TaskFailed):
            cancelled.wait(poll=0.05)
    with Client(server.url, "nck_wrong_key", retries=0) as bad, pytest.raises(Unauthorized):
        bad.checks()


@in_modes("sqlite")
def test_cli_submit_wait_output_plain_and_json(server: Server, tmp_path: Path) -> None:
    key = server.create_key("terminal")
    source = tmp_path / "numbers.txt"
    source.write_text("+12025550101\n+4915112345678\nnope\n")
    done = cli(
        server, key, "submit", str(source), "--type", "validate", "-o", str(tmp_path / "r.zip")
    )
    assert done.returncode == 0, done.stderr
    fields = dict(
        line.split("\t", 1) for line in done.stdout.strip().splitlines()
    )  # not a TTY: plain
    assert fields["status"] == "exported" and fields["success"] == "2" and fields["failure"] == "1"
    assert "\x1b[" not in done.stdout + done.stderr  # no terminal codes in pipes
    assert "/3" in done.stderr  # progress lines: checked/total
    with zipfile.ZipFile(tmp_path / "r.zip") as opened:
        assert opened.read("results.csv").decode().startswith("Number,valid")

    as_json = cli(server, key, "status", fields["task_id"], "--json")
    assert json.loads(as_json.stdout)["status"] == "exported"
    fetched = cli(
        server, key, "download", fields["task_id"], "-o", str(tmp_path / "again.zip"), "--json"
    )
    assert json.loads(fetched.stdout)["saved_to"].endswith("again.zip")
    listed = cli(server, key, "checks", "--json")
    assert [c["name"] for c in json.loads(listed.stdout)] == ["validate"]

    assert cli(server, key, "submit", str(source), "--type", "nope").returncode == 4
    assert cli(server, "nck_bad_key", "checks").returncode == 3
    no_server = subprocess.run(
        [sys.executable, "-m", "numcheck", "checks"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("NUMCHECK_")}
        | {"XDG_CONFIG_HOME": str(tmp_path)},
    )
    assert no_server.returncode == 2 and "NUMCHECK_SERVER" in no_server.stderr
    config = tmp_path / "numcheck" / "client.toml"
    config.parent.mkdir()
    config.write_text(f'server = "{server.url}"\napi_key = "{key}"\n')
    from_config = subprocess.run(
        [sys.executable, "-m", "numcheck", "checks"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("NUMCHECK_")}
        | {"XDG_CONFIG_HOME": str(tmp_path)},
    )
    assert from_config.returncode == 0
    assert from_config.stdout.splitlines()[1].startswith("validate\t")  # after the header


def test_csv_with_header_id_passthrough_and_gzip(server: Server, admin_key: str) -> None:
    table = (
        'customer,name,phone\nc1,Ann,+1 202 555 0101\nc2,"Doe, Bob",nope\nc3,Cy,+4915112345678\n'
    )
    with server.client(admin_key) as client:
        # Column found by looking (the first whose values look like numbers), id passed through.
        created = client.post(
            "/v1/tasks",
            data={"task_type": "validate", "id_column": "customer"},
            files={"file": ("crm.csv", table.encode())},
        )
        assert created.status_code == 200, created.text
        assert created.json()["total"] == 3
        status = _wait(client, created.json()["task_id"])
        files = _zip(status)
        rows = list(csv.reader(io.StringIO(files["results.csv"])))
        assert rows[0] == [
            "Number",
            "valid",
            "type",
            "region",
            "carrier",
            "timezones",
            "national",
            "international",
            "country",
            "location",
            "reason",
            "customer",
        ]
        assert [(r[0], r[-1]) for r in rows[1:]] == [
            ("+12025550101", "c1"),
            ("+4915112345678", "c3"),
        ]
        failed = list(csv.reader(io.StringIO(files["failed.csv"])))
        assert failed == [
            ["line", "input", "reason", "customer"],
            ["3", "nope", "not_a_number", "c2"],
        ]

        named = client.post(
            "/v1/tasks",
            data={"task_type": "validate", "column": "phone"},
            files={"file": ("x.txt", table.encode())},
        )
        assert named.json()["total"] == 3
        missing = client.post(
            "/v1/tasks",
            data={"task_type": "validate", "column": "mobile"},
            files={"file": ("x.csv", table.encode())},
        )
        assert missing.status_code == 400 and "phone" in missing.json()["message"]

        packed = gzip.compress(b"+12025550101\n+4915112345678\n" * 1000)
        zipped = client.post(
            "/v1/tasks", data={"task_type": "validate"}, files={"file": ("n.txt.gz", packed)}
        )
        assert zipped.json()["total"] == 2000
        assert _wait(client, zipped.json()["task_id"])["success"] == 2000


def test_gzip_bomb_is_refused_with_413_and_nothing_kept(start_server) -> None:
    server = start_server(max_upload_bytes=10 * 1024 * 1024)
    bomb = gzip.compress(b"\n" * (200 * 1024 * 1024), compresslevel=9)  # 200 MiB inflated
    assert len(bomb) < 1024 * 1024
    with server.client(server.admin_key) as client:
        refused = client.post(
            "/v1/tasks", data={"task_type": "validate"}, files={"file": ("b.gz", bomb)}
        )
        assert refused.status_code == 413 and refused.json()["code"] == "file_too_large"
        assert client.get("/v1/tasks").json()["tasks"] == []
    assert [p for p in (server.data_dir / "blobs").rglob("*") if p.is_file()] == []


def _wait(client: httpx.Client, task_id: str) -> dict:
    from tests.helpers import wait_for_status

    return wait_for_status(client, task_id)


def _zip(status: dict) -> dict[str, str]:
    from tests.helpers import download_zip

    return download_zip(status)


@in_modes("sqlite")  # the client's side of list, cancel and account: one mode tells it
def test_list_cancel_account_and_unfinished_downloads(server: Server, tmp_path: Path) -> None:
    key = server.create_key("client-lister")
    with Client(server.url, key) as client:
        done = [
            client.submit(iter([f"+1202555{i:04d}"]), "validate").wait(poll=0.05) for i in range(3)
        ]
        running = client.submit(iter(["+12025550101"] * 60_000), "validate")
        with pytest.raises(TaskNotFinished) as early:
            running.download(tmp_path / "early.zip")
        assert early.value.code == "not_finished" and not (tmp_path / "early.zip").exists()
        cancelled = client.cancel(running.id)
        assert cancelled.state == "cancelled"
        with pytest.raises(TaskFailed) as ended:
            cancelled.download(tmp_path / "late.zip")
        assert isinstance(ended.value, NumcheckClientError) and ended.value.code == "cancelled"

        everything = [t.id for t in client.tasks(page_size=2)]  # three pages
        assert everything == [running.id, *(t.id for t in reversed(done))]
        assert [t.id for t in client.tasks("exported", page_size=2)] == [
            t.id for t in reversed(done)
        ]
        assert [t.state for t in client.tasks("cancelled,failed")] == ["cancelled"]
        with pytest.raises(InvalidRequest) as bad:
            list(client.tasks("finished"))
        assert bad.value.code == "invalid_request" and "exported" in bad.value.message
        with pytest.raises(NotFound):
            client.cancel("dc60g3n8lhpk1vas1e5g")

        account = client.account()
        assert account["name"] == "client-lister"
        assert account["limits"]["max_active_tasks"] >= 1
        assert {"unlimited", "balance", "reserved"} <= set(account["credits"])


@in_modes("sqlite")
def test_async_client_has_the_same_surface(server: Server) -> None:
    key = server.create_key("asyncer")
    numbers = [f"+4915112345{i:03d}" for i in range(1200)] + ["oops"]

    async def run() -> tuple[list[dict[str, str]], list[str], dict]:
        async with AsyncClient(server.url, key) as client:
            task = await client.submit(iter(numbers), "validate", {"default_region": "DE"})
            await task.wait(poll=0.05)
            rows = [row async for row in task.rows()]
            listed = [t.id async for t in client.tasks("exported", page_size=1)]
            assert listed == [task.id]
            with pytest.raises(NotFound):
                await client.task("dc60g3n8lhpk1vas1e5g")
            assert (await client.lookup(["+12025550101"]))[0]["valid"] == "yes"
            return rows, [c["name"] for c in await client.checks()], await client.account()

    rows, checks, account = asyncio.run(run())
    assert len(rows) == 1200 and rows[0]["Number"] == numbers[0] and rows[0]["valid"] == "yes"
    assert checks == ["validate"] and account["name"] == "asyncer"


@in_modes("sqlite")
def test_cli_and_client_send_the_file_options(server: Server, tmp_path: Path) -> None:
    """A semicolon export with its column named, results as JSON Lines with the failures
    among them: through `numcheck submit` and read back with the client."""
    key = server.create_key("file-options")
    export = tmp_path / "crm.txt"
    export.write_text("id;phone\nc1;+4915112345678\nc2;nope\n")
    done = cli(
        server, key, "submit", str(export), "--type", "validate", "--delimiter", ";",
        "--column", "phone", "--id-column", "id", "--result-format", "jsonl",
        "--include-failed", "--wait", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    task_id = json.loads(done.stdout)["task_id"]
    with Client(server.url, key) as client:
        rows = list(client.task(task_id).rows())
        saved = client.download_results(task_id, tmp_path / "results.jsonl")
    assert [(r["Number"], r["valid"], r["id"], r["failure"]) for r in rows] == [
        ("+4915112345678", "yes", "c1", ""),
        ("nope", "", "c2", "not_a_number"),
    ]
    assert [json.loads(line) for line in saved.read_text().splitlines()] == rows
