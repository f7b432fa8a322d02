"""The dashboard in a real Chromium (Debian's package, driven by Playwright): sign in, upload,
watch progress reach exported, download the zip, and keep a screenshot of the finished page."""

from __future__ import annotations

import csv
import io
import os
import re
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.helpers import Server, in_modes, wait_for_status

CHROMIUM = "/usr/bin/chromium"
OUTPUT = Path(__file__).parents[2] / "test-output"

if not Path(CHROMIUM).exists():
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        yield browser
        browser.close()


@in_modes("sqlite")
def test_sign_in_upload_watch_download(browser, server: Server, tmp_path: Path) -> None:
    key = server.create_key("browser-user")
    numbers = tmp_path / "numbers.txt"
    numbers.write_text("\n".join(f"+4915112345{i:03d}" for i in range(3000)) + "\nnope\n")
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.goto(server.url + "/")

    page.get_by_label("API key").fill("nck_wrong_key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("refused")

    page.get_by_label("API key").fill(key)
    page.get_by_label("API key").press("Enter")  # the keyboard works as well as the mouse
    expect(page.get_by_label("Check")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('numcheck.apiKey')") == key
    assert page.evaluate("localStorage.length") == 0 and page.context.cookies() == []

    page.get_by_label("File of numbers (text, CSV, XLSX or .gz)").set_input_files(str(numbers))
    page.get_by_label("Check").select_option("validate")
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("status")).to_contain_text("3,001 numbers")

    row = page.locator("#tasks tbody tr").first
    expect(row).to_have_attribute("data-status", "exported", timeout=60_000)
    expect(row.locator(".counts")).to_have_text("3,001 / 3,001")
    progress = row.locator("progress")
    assert progress.get_attribute("aria-label").endswith("3001 of 3001 checked")

    with page.expect_download() as caught:
        row.get_by_role("link", name="Download").click()
    saved = tmp_path / "result.zip"
    caught.value.save_as(saved)
    with zipfile.ZipFile(saved) as archive:
        rows = list(csv.reader(io.StringIO(archive.read("results.csv").decode())))
        failed = archive.read("failed.csv").decode().splitlines()
    assert len(rows) == 3001 and rows[1][0] == "+4915112345000"
    assert failed[1] == "3001,nope,not_a_number"

    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "dashboard.png"), full_page=True)
    context.close()


@in_modes("sqlite")
def test_strict_content_security_policy_and_no_foreign_resources(server: Server) -> None:
    page = httpx.get(server.url + "/")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    html = page.text
    assert "http://" not in html and "https://" not in html and "<script>" not in html
    # The SVG namespace is a name, not a resource: charts are drawn in inline SVG.
    script = httpx.get(server.url + "/static/app.js").text.replace("http://www.w3.org/2000/svg", "")
    assert "http://" not in script and "https://" not in script and "innerHTML" not in script


@in_modes("sqlite")
def test_the_upload_form_offers_the_file_header_and_sends_the_shaping_fields(
    browser, server: Server, tmp_path: Path
) -> None:
    """The columns are read from the file in the browser; the task is created with the chosen
    column, id column, region, result format and include_failed."""
    key = server.create_key("browser-fields")
    export = tmp_path / "crm.csv"
    export.write_text("customer;notes;phone\nc1;x;0151 12345678\nc2;y;nope\n")
    page = browser.new_page()
    page.goto(server.url + "/")
    page.get_by_label("API key").fill(key)
    page.get_by_label("API key").press("Enter")
    page.get_by_label("File of numbers (text, CSV, XLSX or .gz)").set_input_files(str(export))
    column = page.get_by_label("Number column")
    expect(column.locator("option")).to_have_text(["Find it", "customer", "notes", "phone"])
    column.select_option("phone")
    page.get_by_label("ID column").select_option("customer")
    page.get_by_label("Default region").fill("de")
    page.get_by_label("Results as").select_option("xlsx")
    page.get_by_label("Failed lines in the results file").check()
    page.get_by_label("Check").select_option("validate")
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("status")).to_contain_text("2 numbers")
    row = page.locator("#tasks tbody tr").first
    expect(row).to_have_attribute("data-status", "exported", timeout=60_000)
    page.close()

    with server.client(key) as client:
        task = client.get("/v1/tasks").json()["tasks"][0]
        assert (task["result_format"], task["include_failed"]) == ("xlsx", True)
        workbook = client.get(f"/v1/tasks/{task['task_id']}/results")
    import openpyxl

    sheet = openpyxl.load_workbook(io.BytesIO(workbook.content)).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0][0] == "Number" and rows[0][-2:] == ["customer", "failure"]
    assert [(row[0], row[1], row[-2], row[-1]) for row in rows[1:]] == [
        ("+4915112345678", "yes", "c1", None),
        ("nope", None, "c2", "not_a_number"),
    ]


DOCS = Path(__file__).parents[2] / "docs"
PHONE = {"width": 390, "height": 844}


def serious_violations(page) -> list[str]:
    """axe-core's violations of serious or critical impact, as 'rule: target' lines."""
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [
        f"{v['id']}: {node['target']}"
        for v in found
        if v["impact"] in ("serious", "critical")
        for node in v["nodes"]
    ]


@in_modes("sqlite")
def test_outcome_preview_filters_cancel_and_a_phone(
    browser, server: Server, tmp_path: Path
) -> None:
    """A finished task's details (counts, charts, preview), the filters, a confirmed cancel,
    and the same page at 390 px: no sideways scrolling, no serious axe-core violation."""
    key = server.create_key("browser-outcome")
    with server.client(key) as client:
        content = "+4915112345678\n+12025550101\n+442079460958\nnope\n+4930123456\n"
        created = client.post(
            "/v1/tasks",
            files={"file": ("n.txt", content.encode())},
            data={"task_type": "validate"},
        ).json()
        wait_for_status(client, created["task_id"])
    big = tmp_path / "big.txt"
    big.write_bytes(b"+12025550101\n" * 1_000_000)  # runs for seconds: long enough to cancel

    context = browser.new_context()
    page = context.new_page()
    page.goto(server.url + "/")
    page.get_by_label("API key").fill(key)
    page.get_by_label("API key").press("Enter")
    expect(page.locator("#credits")).to_contain_text("Credits")

    # Upload a big file, then cancel it: a dismissed confirmation changes nothing, an accepted
    # one cancels, and the upload status says so instead of "created".
    page.get_by_label("File of numbers (text, CSV, XLSX or .gz)").set_input_files(str(big))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("status")).to_contain_text("1,000,000 numbers")
    running = page.get_by_role("status").inner_text().split()[1]
    row = page.locator(f'tr[data-task-id="{running}"]')
    cancel = page.get_by_role("button", name=f"Cancel task {running}")
    page.once("dialog", lambda dialog: dialog.dismiss())
    cancel.click()
    assert row.get_attribute("data-status") in ("pending", "processing")
    page.once("dialog", lambda dialog: dialog.accept())
    cancel.click()
    expect(row).to_have_attribute("data-status", "cancelled", timeout=30_000)
    expect(page.get_by_role("status")).to_have_text(f"Task {running} cancelled.")

    # Filters: only exported tasks, then only cancelled ones.
    page.get_by_label("Status", exact=True).select_option("exported")
    expect(page.locator("#tasks tbody tr[data-task-id]")).to_have_count(1)
    page.get_by_label("Status", exact=True).select_option("cancelled")
    expect(page.locator("#tasks tbody tr[data-task-id]")).to_have_attribute("data-task-id", running)
    page.get_by_label("Status", exact=True).select_option("")

    page.get_by_role("button", name=f"Details of task {created['task_id']}").click()
    details = page.locator(f"#details-{created['task_id']}")
    expect(details.locator(".outcome-counts")).to_have_text("4 answered, 1 failed, of 5.")
    expect(details.get_by_role("img", name=re.compile(r"^Valid: yes 4"))).to_be_visible()
    expect(
        details.get_by_role("img", name=re.compile(r"^Failure reasons: not_a_number 1"))
    ).to_be_visible()
    preview = details.locator("table.preview")
    expect(preview.locator("thead th")).to_have_count(11)
    expect(preview.locator("tbody tr")).to_have_count(4)
    expect(preview.locator("tbody tr").first.locator("td").first).to_have_text("+4915112345678")
    # The details stay open across the page's refreshes.
    page.wait_for_timeout(2000)
    expect(details.locator(".outcome-counts")).to_be_visible()
    assert serious_violations(page) == []
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "dashboard-desktop.png"), full_page=True)

    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert serious_violations(page) == []
    page.screenshot(path=str(OUTPUT / "dashboard-phone.png"), full_page=True)
    context.close()
