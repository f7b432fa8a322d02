"""Blobs in S3 (moto's standalone server; no S3 server package installs here) with PostgreSQL.

moto accepts any presigned signature, so the refusal of bad or expired links is proven on the
local HMAC links (test_api_contract); here the presigned URL's parameters are checked instead.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import os
import time
import zipfile
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest

from tests.helpers import BUCKET, Server, submit, wait_for_status


def keys_in_bucket() -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=BUCKET)
    return sorted(item["Key"] for item in listed.get("Contents", []))


@pytest.fixture(scope="module")
def s3_server(s3_endpoint, postgres_url, tmp_path_factory):
    env = {
        "NUMCHECK_DATABASE_URL": postgres_url,
        "NUMCHECK_STORAGE_URL": f"s3://{BUCKET}/numcheck",
        "NUMCHECK_CHUNK_LINES": "500",
    }
    data_dir = tmp_path_factory.mktemp("s3") / "data"
    server = Server(data_dir, env=env)
    upgraded = server.cli("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    server.start()
    yield server
    server.stop()


def test_tasks_results_and_registries_live_in_the_bucket(s3_server: Server) -> None:
    with s3_server.client(s3_server.admin_key) as client:
        table = (
            "\n".join(["id,phone"] + [f"r{i},+4915112345{i:03d}" for i in range(1200)])
            + "\nrx,nope\n"
        )
        created = client.post(
            "/v1/tasks",
            data={"task_type": "validate", "id_column": "id"},
            files={"file": ("crm.csv", table.encode())},
        )
        assert created.status_code == 200, created.text
        status = wait_for_status(client, created.json()["task_id"])
        url = status["result_url"]
        query = parse_qs(urlsplit(url).query)
        assert url.startswith(os.environ["AWS_ENDPOINT_URL"])
        assert query["X-Amz-Expires"] == ["900"]  # the configured link lifetime
        assert "attachment" in query["response-content-disposition"][0]
        download = httpx.get(url)  # no API key: the presigned URL is the credential
        assert download.status_code == 200
        with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
            rows = list(csv.reader(io.StringIO(archive.read("results.csv").decode())))
            assert (
                archive.read("failed.csv").decode().splitlines()[1] == "1202,nope,not_a_number,rx"
            )
        assert len(rows) == 1201 and rows[1][0] == "+4915112345000" and rows[1][-1] == "r0"
        task_id = status["task_id"]
        # A link of the server's own kind (signed with its secret) sends the client to the store.
        secret = bytes.fromhex((s3_server.data_dir / "secret.key").read_text().strip())
        expires = int(time.time()) + 60
        message = f"result\x00{task_id}\x00{status['user_id']}\x00{expires}".encode()
        signature = hmac.new(secret, message, hashlib.sha256).hexdigest()
        own = httpx.get(
            f"{s3_server.url}/results/{task_id}.zip?expires={expires}&signature={signature}"
        )
        assert own.status_code == 307
        assert own.headers["location"].startswith(os.environ["AWS_ENDPOINT_URL"])
        # Parts and the upload are gone after export; the result stays until deleted.
        assert [k for k in keys_in_bucket() if task_id in k] == [f"numcheck/results/{task_id}.zip"]
        assert client.delete(f"/v1/tasks/{task_id}").json()["status"] == "expired"
        assert [k for k in keys_in_bucket() if task_id in k] == []

        loaded = client.post("/v1/registries/crm", files={"file": ("r.txt", b"+4915112345001\n")})
        assert loaded.status_code == 200, loaded.text
        assert "numcheck/registries/crm/000001.u64" in keys_in_bucket()
        # An add reads the current version from the bucket (through the local copy).
        added = client.post(
            "/v1/registries/crm",
            data={"mode": "add"},
            files={"file": ("r.txt", b"+4915112345003\n")},
        )
        assert added.status_code == 200 and added.json()["entries"] == 2, added.text
        asked = b"+4915112345001\n+4915112345002\n+4915112345003\n"
        member = submit(client, asked, task_type="crm").json()["task_id"]
        answers = wait_for_status(client, member)
        with zipfile.ZipFile(io.BytesIO(httpx.get(answers["result_url"]).content)) as archive:
            assert archive.read("results.csv").decode().splitlines()[1:] == [
                "+4915112345001,yes",
                "+4915112345002,no",
                "+4915112345003,yes",
            ]


def test_a_refused_upload_leaves_nothing_in_the_bucket(s3_server: Server) -> None:
    before = keys_in_bucket()
    with s3_server.client(s3_server.admin_key) as client:
        assert submit(client, b"+12025550101\n\x00\x01").status_code == 400
    assert keys_in_bucket() == before


def test_s3_without_a_shared_database_fails_at_start_with_a_sentence(tmp_path) -> None:
    server = Server(tmp_path / "data", env={"NUMCHECK_STORAGE_URL": f"s3://{BUCKET}/x"})
    with pytest.raises(RuntimeError, match="set NUMCHECK_DATABASE_URL"):
        server.start(timeout=20)
