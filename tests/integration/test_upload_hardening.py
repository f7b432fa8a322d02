"""How POST /v1/tasks reads uploads, over real HTTP against a real server: the CSV header rule,
truncated and hand-made multipart bodies, repeated fields. Every refusal leaves nothing behind:
no task, chunk or ledger row in the database, no upload blob."""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import Server, download_zip, wait_for_status

BOUNDARY = "hardening-boundary"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


@pytest.fixture(scope="module")
def hardening_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One embedded server for the module: refusals are checked as "nothing changed"."""
    server = Server(tmp_path_factory.mktemp("hardening") / "data").start()
    yield server
    server.stop()


@pytest.fixture
def client(hardening_server: Server) -> Iterator[httpx.Client]:
    with hardening_server.client(hardening_server.admin_key) as client:
        yield client


def field_part(name: str, value: str) -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
    ).encode()


def file_head(filename: str = "numbers.txt") -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()


def file_part(content: bytes, filename: str = "numbers.txt") -> bytes:
    return file_head(filename) + content + b"\r\n"


CLOSING = f"--{BOUNDARY}--\r\n".encode()


def post_raw(client: httpx.Client, body: bytes | Iterator[bytes]) -> httpx.Response:
    return client.post("/v1/tasks", content=body, headers={"Content-Type": CONTENT_TYPE})


def state(server: Server) -> dict[str, object]:
    """What creating a task leaves behind: task and chunk rows, reservations in the ledger, and
    upload blobs (temporary files included) that belong to no task. Tasks created earlier may
    finish meanwhile (charges, releases, their uploads deleted): none of that is counted."""
    with sqlite3.connect(f"file:{server.data_dir / 'numcheck.db'}?mode=ro", uri=True) as db:
        tasks = {row[0] for row in db.execute("SELECT id FROM tasks")}
        chunks = db.execute("SELECT count(*) FROM chunks").fetchone()[0]
        reserved = db.execute(
            "SELECT count(*) FROM credit_ledger WHERE kind = 'reserve'"
        ).fetchone()[0]
    uploads = server.data_dir / "blobs" / "uploads"
    stray = sorted(
        path.name
        for path in (uploads.rglob("*") if uploads.exists() else [])
        if path.is_file() and path.name.removesuffix(".txt") not in tasks
    )
    return {"tasks": len(tasks), "chunks": chunks, "reserved": reserved, "stray_uploads": stray}


def assert_refused(response: httpx.Response, status: int, code: str, *, words: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code, response.text
    assert words in response.json()["message"], response.text


def result_rows(client: httpx.Client, task_id: str) -> tuple[list[list[str]], list[list[str]]]:
    files = download_zip(wait_for_status(client, task_id))
    results = list(csv.reader(io.StringIO(files["results.csv"])))[1:]
    failed = list(csv.reader(io.StringIO(files.get("failed.csv", "line\n"))))[1:]
    return results, failed


# -- the CSV header rule ------------------------------------------------------------------------


def test_a_plain_list_named_csv_keeps_its_first_line(client: httpx.Client) -> None:
    # Python `requests` and httpx send the file's name, so `numbers.csv` arrives as a CSV.
    created = client.post(
        "/v1/tasks",
        data={"task_type": "validate"},
        files={"file": ("numbers.csv", b"+12025550101\n+4915112345678\nnope\n+12025550102\n")},
    )
    assert created.status_code == 200, created.text
    assert created.json()["total"] == 4
    results, failed = result_rows(client, created.json()["task_id"])
    assert [row[0] for row in results] == ["+12025550101", "+4915112345678", "+12025550102"]
    assert failed == [["3", "nope", "not_a_number"]]  # the caller's physical line number


def test_csv_rows_without_a_header_keep_every_row_and_their_line_numbers(
    client: httpx.Client,
) -> None:
    table = b"\n+4915112345678,alice\nx,bob\n\n+12025550101,cy\n"
    created = client.post(
        "/v1/tasks", data={"task_type": "validate"}, files={"file": ("crm.csv", table)}
    )
    assert created.status_code == 200, created.text
    assert created.json()["total"] == 3
    results, failed = result_rows(client, created.json()["task_id"])
    assert [row[0] for row in results] == ["+4915112345678", "+12025550101"]
    assert failed == [["3", "x", "not_a_number"]]


def test_bare_national_numbers_are_data_under_the_default_region(client: httpx.Client) -> None:
    created = client.post(
        "/v1/tasks",
        data={"task_type": "validate", "default_region": "de"},
        files={"file": ("numbers.csv", b"015112345678,alice\n030 1234567,bob\n")},
    )
    assert created.status_code == 200, created.text
    assert created.json()["total"] == 2
    results, _ = result_rows(client, created.json()["task_id"])
    assert [row[0] for row in results] == ["+4915112345678", "+49301234567"]


def test_a_header_row_is_still_recognised(client: httpx.Client) -> None:
    created = client.post(
        "/v1/tasks",
        data={"task_type": "validate"},
        files={"file": ("crm.csv", b"phone,name\n+4915112345678,alice\n+12025550101,bob\n")},
    )
    assert created.status_code == 200, created.text
    assert created.json()["total"] == 2


@pytest.mark.parametrize(
    ("fields", "table"),
    [
        ({}, b"phone,name\n"),
        ({"id_column": "name"}, b"phone,name\n\n"),
        ({"column": "phone"}, b"\nphone,name\n \n"),
    ],
)
def test_a_csv_with_a_header_and_no_data_row_is_an_empty_file(
    client: httpx.Client, hardening_server: Server, fields: dict[str, str], table: bytes
) -> None:
    before = state(hardening_server)
    refused = client.post(
        "/v1/tasks",
        data={"task_type": "validate", **fields},
        files={"file": ("crm.csv", table)},
    )
    assert_refused(refused, 400, "empty_file", words="no non-blank line")
    assert state(hardening_server) == before


# -- truncated bodies ---------------------------------------------------------------------------


TRUNCATED = [
    # The body stops in the middle of the file: its last line is half written.
    field_part("task_type", "validate") + file_head() + b"+12025550101\n+1202555",
    # The file part ended, but the closing boundary never came.
    field_part("task_type", "validate") + file_part(b"+12025550101\n") + f"--{BOUNDARY}".encode(),
    field_part("task_type", "validate") + file_part(b"+12025550101\n"),
]


@pytest.mark.parametrize("body", TRUNCATED)
def test_a_body_that_ends_before_its_closing_boundary_is_refused(
    client: httpx.Client, hardening_server: Server, body: bytes
) -> None:
    before = state(hardening_server)
    refused = post_raw(client, body)  # a Content-Length body, complete as HTTP goes
    assert_refused(refused, 400, "invalid_request", words="before its closing boundary")
    assert state(hardening_server) == before


def test_a_chunked_body_that_ends_early_is_refused(
    client: httpx.Client, hardening_server: Server
) -> None:
    def pieces() -> Iterator[bytes]:  # an iterator: httpx sends it chunked
        yield field_part("task_type", "validate") + file_head()
        yield b"+12025550101\n" * 1000
        yield b"+1202555"  # and then the terminating zero-length chunk

    before = state(hardening_server)
    refused = post_raw(client, pieces())
    assert_refused(refused, 400, "invalid_request", words="before its closing boundary")
    assert state(hardening_server) == before


def test_the_same_body_with_its_closing_boundary_is_accepted(client: httpx.Client) -> None:
    body = field_part("task_type", "validate") + file_part(b"+12025550101\n+1202555\n") + CLOSING
    created = post_raw(client, body)
    assert created.status_code == 200, created.text
    assert created.json()["total"] == 2


# -- repeated fields ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "body"),
    [
        (
            "column",
            field_part("task_type", "validate")
            + field_part("column", "a")
            + file_part(b"a,b\n+12025550101,+4915112345678\n", "t.csv")
            + field_part("column", "b")
            + CLOSING,
        ),
        (
            "task_type",
            field_part("task_type", "validate")
            + field_part("task_type", "validate")
            + file_part(b"+12025550101\n")
            + CLOSING,
        ),
        (
            "file",
            field_part("task_type", "validate")
            + file_part(b"+12025550101\n")
            + file_part(b"+4915112345678\n")
            + CLOSING,
        ),
    ],
)
def test_a_field_sent_twice_is_refused_naming_it(
    client: httpx.Client, hardening_server: Server, name: str, body: bytes
) -> None:
    before = state(hardening_server)
    refused = post_raw(client, body)
    assert_refused(refused, 400, "invalid_request", words=f"{name!r} is sent more than once")
    assert state(hardening_server) == before


def test_a_registry_load_refuses_a_truncated_body_and_a_repeated_field(
    client: httpx.Client, hardening_server: Server
) -> None:
    """POST /v1/registries/{name} reads its form with the same reader."""
    registries = hardening_server.data_dir / "blobs" / "registries"

    def snapshots() -> list[Path]:
        return sorted(registries.rglob("*")) if registries.exists() else []

    def load(body: bytes) -> httpx.Response:
        return client.post(
            "/v1/registries/hardening", content=body, headers={"Content-Type": CONTENT_TYPE}
        )

    truncated = load(file_head() + b"+12025550101\n+1202555")
    assert_refused(truncated, 400, "invalid_request", words="before its closing boundary")
    repeated = load(
        field_part("mode", "add") + field_part("mode", "remove") + file_part(b"+1\n") + CLOSING
    )
    assert_refused(repeated, 400, "invalid_request", words="'mode' is sent more than once")
    assert client.get("/v1/registries").json() == []
    assert snapshots() == []
