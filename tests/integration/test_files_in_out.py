"""Files in and out, through a real server: the exports people have (semicolon and tab CSV,
quoted fields over several lines, XLSX workbooks), fields sent after the file, and results as
CSV, XLSX or JSON Lines — each written with the library people use and read back with it."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections import Counter
from collections.abc import Iterator

import httpx
import openpyxl
import pytest

from tests.helpers import Server, broker, download_zip, fresh_postgres, wait_for_status
from tests.integration.test_upload_hardening import (
    CLOSING,
    assert_refused,
    field_part,
    file_part,
    post_raw,
    state,
)

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
UK = "442079460958"  # +44 20 7946 0958, a London fixed line
DE_MOBILE = "+4915112345678"


@pytest.fixture(scope="module")
def files_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(
        tmp_path_factory.mktemp("files") / "data", env={"NUMCHECK_CHUNK_LINES": "3"}
    ).start()
    yield server
    server.stop()


@pytest.fixture
def client(files_server: Server) -> Iterator[httpx.Client]:
    with files_server.client(files_server.admin_key) as client:
        yield client


def create(client: httpx.Client, filename: str, content: bytes, **fields: str) -> str:
    response = client.post(
        "/v1/tasks",
        files={"file": (filename, content, "application/octet-stream")},
        data={"task_type": "validate", **fields},
    )
    assert response.status_code == 200, response.text
    return response.json()["task_id"]


def csv_files(client: httpx.Client, task_id: str) -> dict[str, list[list[str]]]:
    files = download_zip(wait_for_status(client, task_id))
    return {
        name: list(csv.reader(io.StringIO(text)))
        for name, text in files.items()
        if name.endswith(".csv")
    }


def written(rows: list[list[str]], **dialect: str) -> bytes:
    out = io.StringIO()
    csv.writer(out, **dialect).writerows(rows)  # type: ignore[arg-type]
    return out.getvalue().encode()


# -- in: delimiters, records, field order ------------------------------------------------------


def test_a_semicolon_export_with_its_fields_after_the_file(files_server: Server) -> None:
    """What Excel writes in most of Europe, sent as `curl -F file=@x -F column=phone` does."""
    content = written(
        [["id", "phone", "amount"], ["c1", DE_MOBILE, "3,50"], ["c2", "hello", "1,00"]],
        delimiter=";",
    )
    body = (
        field_part("task_type", "validate")
        + file_part(content, "crm.csv")
        + field_part("column", "phone")
        + field_part("id_column", "id")
        + CLOSING
    )
    with files_server.client(files_server.admin_key) as client:
        response = post_raw(client, body)
        assert response.status_code == 200, response.text
        files = csv_files(client, response.json()["task_id"])
    assert files["results.csv"][0][-1] == "id"
    assert [(row[0], row[1], row[-1]) for row in files["results.csv"][1:]] == [
        (DE_MOBILE, "yes", "c1")
    ]
    assert files["failed.csv"][1:] == [["3", "hello", "not_a_number", "c2"]]


@pytest.mark.parametrize("filename", ["export.tsv", "export.txt"])
def test_a_tab_separated_export_is_read_by_columns(client: httpx.Client, filename: str) -> None:
    content = written(
        [["name", "mobile"], ["Ann", DE_MOBILE], ["Bob", "+12025550101"]], delimiter="\t"
    )
    files = csv_files(client, create(client, filename, content))
    assert [row[:2] for row in files["results.csv"][1:]] == [
        [DE_MOBILE, "yes"],
        ["+12025550101", "yes"],
    ]
    assert "failed.csv" not in files


def test_a_named_delimiter_and_a_national_column_found_under_a_region_sent_late(
    files_server: Server,
) -> None:
    """Column detection uses default_region, even when the region comes after the file."""
    content = b"name|phone\nAnn|030 1234567\nBob|0151 12345678\n"
    body = (
        field_part("task_type", "validate")
        + file_part(content, "crm.txt")
        + field_part("delimiter", "pipe")
        + field_part("default_region", "DE")
        + CLOSING
    )
    with files_server.client(files_server.admin_key) as client:
        response = post_raw(client, body)
        assert response.status_code == 200, response.text
        files = csv_files(client, response.json()["task_id"])
    assert [(row[1], row[3]) for row in files["results.csv"][1:]] == [("yes", "DE")] * 2


def test_quoted_fields_over_several_lines_are_one_record(client: httpx.Client) -> None:
    """RFC 4180: a note with line breaks, delimiters and quotes stays in its record, and a
    failure's line is the physical line where its record starts."""
    rows = [
        ["phone", "note"],
        [DE_MOBILE, 'first line\nsecond, with "quotes"\nthird'],
        ["not a number", "one\ntwo"],
        ["+12025550101", "plain"],
    ]
    files = csv_files(client, create(client, "crm.csv", written(rows)))
    assert [row[0] for row in files["results.csv"][1:]] == [DE_MOBILE, "+12025550101"]
    assert files["failed.csv"][1:] == [["5", "not a number", "not_a_number"]]


# -- in: XLSX ----------------------------------------------------------------------------------


def workbook(sheets: dict[str, list[list[object]]], cached: dict[str, str] | None = None) -> bytes:
    """An XLSX as openpyxl writes it; `cached` gives formulas the values Excel would store."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    if not cached:
        return out.getvalue()
    patched = io.BytesIO()
    with zipfile.ZipFile(out) as source, zipfile.ZipFile(patched, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename.startswith("xl/worksheets/"):
                text = data.decode()
                for formula, value in cached.items():
                    text = text.replace(f"<f>{formula}</f><v />", f"<f>{formula}</f><v>{value}</v>")
                data = text.encode()
            target.writestr(item, data)
    return patched.getvalue()


def test_an_xlsx_upload_reads_numbers_as_their_digits_and_formulas_as_their_values(
    client: httpx.Client,
) -> None:
    content = workbook(
        {
            "Notes": [["nothing here"]],
            "Leads": [
                ["customer", "phone"],
                ["c1", int(UK)],  # stored as a number: must not come back as 4.42079E+11
                ["c2", float(UK)],
                ["c3", DE_MOBILE],
                [],
                ["c5", "=B2"],  # a formula: its cached value counts
                ["c6", "no number"],
            ],
        },
        cached={"B2": UK},
    )
    task_id = create(
        client, "upload.bin", content, sheet="Leads", default_region="GB", id_column="customer"
    )
    files = csv_files(client, task_id)
    assert [(row[0], row[1], row[-1]) for row in files["results.csv"][1:]] == [
        ("+" + UK, "yes", "c1"),
        ("+" + UK, "yes", "c2"),
        (DE_MOBILE, "yes", "c3"),
        ("+" + UK, "yes", "c5"),
    ]
    # Line numbers are the sheet's row numbers.
    assert files["failed.csv"][1:] == [["7", "no number", "not_a_number", "c6"]]


def test_an_xlsx_without_a_sheet_name_reads_the_first(client: httpx.Client) -> None:
    content = workbook({"First": [["+12025550101"]], "Second": [[DE_MOBILE]]})
    files = csv_files(client, create(client, "book.xlsx", content))
    assert [row[0] for row in files["results.csv"][1:]] == ["+12025550101"]


def bomb() -> bytes:
    """A zip that says it is a workbook and unpacks to 200 MB of zeros."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (200 << 20))
    return out.getvalue()


@pytest.mark.parametrize(
    ("filename", "content", "fields", "status", "code", "words"),
    [
        ("book.xlsx", "two sheets", {"sheet": "Nope"}, 400, "invalid_request", "no sheet 'Nope'"),
        ("book.xlsx", "bomb", {}, 413, "file_too_large", "unpacks to"),
        ("a.zip", "zip", {}, 400, "binary_file", "not an XLSX workbook"),
        ("old.xls", "ole", {}, 400, "binary_file", "save it as XLSX or CSV"),
        ("a.csv", "csv", {"sheet": "Leads"}, 400, "invalid_request", "'sheet' field is for XLSX"),
        ("a.csv", "csv", {"delimiter": ":"}, 400, "invalid_request", "delimiter must be"),
        ("a.csv", "csv", {"result_format": "pdf"}, 400, "invalid_request", "result_format"),
        ("a.csv", "csv", {"include_failed": "maybe"}, 400, "invalid_request", "include_failed"),
        ("a.csv", "unclosed", {}, 413, "line_too_long", "closing quote"),
    ],
)
def test_refused_files_and_fields_leave_nothing(
    client: httpx.Client,
    files_server: Server,
    filename: str,
    content: str,
    fields: dict[str, str],
    status: int,
    code: str,
    words: str,
) -> None:
    payloads = {
        "two sheets": lambda: workbook({"A": [["+12025550101"]], "B": [[DE_MOBILE]]}),
        "bomb": bomb,
        "zip": lambda: _plain_zip(),
        "ole": lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512,
        "csv": lambda: b"phone\n+12025550101\n",
        "unclosed": lambda: b'phone,note\n+12025550101,"never closed\n' + b"more\n" * 20_000,
    }
    before = state(files_server)
    response = client.post(
        "/v1/tasks",
        files={"file": (filename, payloads[content](), "application/octet-stream")},
        data={"task_type": "validate", **fields},
    )
    assert_refused(response, status, code, words=words)
    assert state(files_server) == before
    assert not any((files_server.data_dir / "spool").iterdir())


def _plain_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("numbers.txt", "+12025550101\n")
    return out.getvalue()


# -- out: formats, include_failed, the results route -------------------------------------------

MIXED = f"{DE_MOBILE}\n=HYPERLINK(1)\n\n+12025550101\nnope\n".encode()


def test_xlsx_results_open_in_openpyxl_with_numbers_as_text(client: httpx.Client) -> None:
    task_id = create(client, "numbers.txt", MIXED, result_format="xlsx")
    status = wait_for_status(client, task_id)
    archive = zipfile.ZipFile(io.BytesIO(httpx.get(status["result_url"]).content))
    assert sorted(archive.namelist()) == ["failed.xlsx", "results.xlsx", "summary.json"]
    results = openpyxl.load_workbook(io.BytesIO(archive.read("results.xlsx"))).active
    rows = [[cell.value for cell in row] for row in results.iter_rows()]
    assert rows[0][:4] == ["Number", "valid", "type", "region"]
    assert [row[0] for row in rows[1:]] == [DE_MOBILE, "+12025550101"]
    assert all(cell.data_type == "s" for cell in next(results.iter_rows(min_row=2)) if cell.value)
    failed = openpyxl.load_workbook(io.BytesIO(archive.read("failed.xlsx"))).active
    assert [[cell.value for cell in row] for row in failed.iter_rows()] == [
        ["line", "input", "reason"],
        ["2", "'=HYPERLINK(1)", "not_a_number"],  # neutralised as in the CSV
        ["5", "nope", "not_a_number"],
    ]
    # The same workbook without the zip.
    direct = client.get(f"/v1/tasks/{task_id}/results")
    assert direct.status_code == 200
    assert direct.headers["content-type"] == XLSX_TYPE
    assert direct.headers["content-disposition"] == f'attachment; filename="{task_id}-results.xlsx"'
    assert direct.content == archive.read("results.xlsx")


def test_jsonl_results_have_the_csv_keys(client: httpx.Client) -> None:
    task_id = create(client, "numbers.txt", MIXED, result_format="jsonl")
    files = download_zip(wait_for_status(client, task_id))
    csv_task = create(client, "numbers.txt", MIXED)
    csv_results = csv_files(client, csv_task)["results.csv"]
    records = [json.loads(line) for line in files["results.jsonl"].splitlines()]
    assert records == [dict(zip(csv_results[0], row, strict=True)) for row in csv_results[1:]]
    failures = [json.loads(line) for line in files["failed.jsonl"].splitlines()]
    assert failures == [
        {"line": 2, "input": "'=HYPERLINK(1)", "reason": "not_a_number"},
        {"line": 5, "input": "nope", "reason": "not_a_number"},
    ]
    direct = client.get(f"/v1/tasks/{task_id}/results")
    assert direct.headers["content-type"].startswith("application/x-ndjson")
    assert direct.text == files["results.jsonl"]


def test_include_failed_gives_one_file_in_input_order(client: httpx.Client) -> None:
    task_id = create(client, "numbers.txt", MIXED, include_failed="true")
    files = csv_files(client, task_id)
    assert set(files) == {"results.csv"}
    header, *rows = files["results.csv"]
    assert header[0] == "Number" and header[-1] == "failure"
    assert [(row[0], row[1], row[-1]) for row in rows] == [
        (DE_MOBILE, "yes", ""),
        ("'=HYPERLINK(1)", "", "not_a_number"),
        ("+12025550101", "yes", ""),
        ("nope", "", "not_a_number"),
    ]
    assert all(cell == "" for cell in rows[1][1:-1])
    status = client.get(f"/v1/tasks/{task_id}").json()
    assert (status["success"], status["failure"]) == (2, 2)


def test_the_results_route_streams_the_csv_for_its_owner_only(
    client: httpx.Client, files_server: Server
) -> None:
    task_id = create(client, "numbers.txt", MIXED)
    files = download_zip(wait_for_status(client, task_id))
    direct = client.get(f"/v1/tasks/{task_id}/results")
    assert direct.status_code == 200
    assert direct.headers["content-type"] == "text/csv; charset=utf-8"
    assert direct.text == files["results.csv"]
    assert direct.headers["cache-control"] == "no-store"
    other = files_server.create_key("someone-else")
    with files_server.client(other) as stranger:
        refused = stranger.get(f"/v1/tasks/{task_id}/results")
    assert_refused(refused, 404, "task_not_found", words="")
    assert client.get(f"/v1/tasks/{task_id}/results", headers={"X-API-Key": ""}).status_code == 401
    # A task whose files are gone has no results.
    assert client.delete(f"/v1/tasks/{task_id}").status_code == 200
    assert_refused(client.get(f"/v1/tasks/{task_id}/results"), 404, "result_unavailable", words="")


def test_the_results_of_an_unfinished_task_are_not_ready(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Scale-out with no worker running: the task stays pending."""
    with fresh_postgres() as database, broker("redis") as broker_url:
        server = Server(
            tmp_path_factory.mktemp("unfinished") / "data",
            env={"NUMCHECK_DATABASE_URL": database, "NUMCHECK_BROKER_URL": broker_url},
            worker_count=0,
        )
        from tests.helpers import numcheck_cli

        upgraded = numcheck_cli(server.data_dir, "db", "upgrade", env=server.env)
        assert upgraded.returncode == 0, upgraded.stderr
        server.start()
        try:
            with server.client(server.admin_key) as client:
                task_id = create(client, "numbers.txt", MIXED)
                refused = client.get(f"/v1/tasks/{task_id}/results")
                no_preview = client.get(f"/v1/tasks/{task_id}/preview")
                outcome = client.get(f"/v1/tasks/{task_id}/outcome").json()
        finally:
            server.stop()
    assert_refused(refused, 409, "task_not_finished", words="pending")
    assert_refused(no_preview, 409, "task_not_finished", words="pending")
    assert (outcome["status"], outcome["tallies"]) == ("pending", {})


def test_the_zip_holds_what_the_results_route_serves_for_every_format(
    client: httpx.Client,
) -> None:
    """The route inflates the zip's first entry: byte for byte what unzip gives."""
    for result_format in ("csv", "jsonl", "xlsx"):
        task_id = create(client, "numbers.txt", MIXED * 3, result_format=result_format)
        status = wait_for_status(client, task_id)
        archive = zipfile.ZipFile(io.BytesIO(httpx.get(status["result_url"]).content))
        served = client.get(f"/v1/tasks/{task_id}/results").content
        assert served == archive.read(f"results.{result_format}")


def test_the_outcome_tallies_answers_and_failures(client: httpx.Client) -> None:
    """Summed over chunks (three lines each here), in summary.json and from the outcome route."""
    content = MIXED * 3 + b"+4930123456\n+12025550101\n"
    task_id = create(client, "numbers.txt", content)
    files = download_zip(wait_for_status(client, task_id))
    rows = list(csv.DictReader(io.StringIO(files["results.csv"])))
    expected = {
        name: dict(Counter(row[name] for row in rows)) for name in ("valid", "type", "region")
    }
    expected["reason"] = dict(Counter(row["reason"] for row in rows))
    expected["failure"] = {"not_a_number": 6}
    summary = json.loads(files["summary.json"])
    assert summary["tallies"] == expected
    assert expected["region"] == {"DE": 4, "US": 4}
    outcome = client.get(f"/v1/tasks/{task_id}/outcome")
    assert outcome.status_code == 200
    assert outcome.json()["tallies"] == expected
    assert (outcome.json()["success"], outcome.json()["failure"]) == (8, 6)


@pytest.mark.parametrize("result_format", ["csv", "jsonl", "xlsx"])
def test_the_preview_is_the_results_first_rows_in_every_format(
    client: httpx.Client, result_format: str
) -> None:
    task_id = create(client, "numbers.txt", MIXED * 20, result_format=result_format)
    wait_for_status(client, task_id)
    reference = csv_files(client, create(client, "numbers.txt", MIXED * 20))["results.csv"]
    preview = client.get(f"/v1/tasks/{task_id}/preview", params={"rows": 5})
    assert preview.status_code == 200, preview.text
    assert preview.json() == {"columns": reference[0], "rows": reference[1:6]}
    too_many = client.get(f"/v1/tasks/{task_id}/preview", params={"rows": 101})
    assert_refused(too_many, 400, "invalid_request", words="rows")
