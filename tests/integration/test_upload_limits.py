"""Oversized uploads are refused while they stream: bounded memory, nothing kept."""

import gzip
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import Server

MB = 1024 * 1024
BOUNDARY = "numcheck-test-boundary"


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def multipart_body(file_pieces: Iterator[bytes]) -> Iterator[bytes]:
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="task_type"\r\n\r\nvalidate\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    yield from file_pieces
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def upload_watching_memory(server: Server, pieces: Iterator[bytes]) -> tuple[httpx.Response, int]:
    """Stream an upload; return the response and the server's peak RSS growth over idle."""
    pid = server.process.pid
    idle = rss_bytes(pid)
    peak = idle
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_bytes(pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        response = httpx.post(
            f"{server.url}/v1/tasks",
            content=multipart_body(pieces),
            headers={
                "X-API-Key": server.admin_key,
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            },
            timeout=120,
        )
    finally:
        done.set()
        sampler.join()
    return response, peak - idle


def nothing_kept(server: Server) -> None:
    blobs = server.data_dir / "blobs"
    assert [p for p in blobs.rglob("*") if p.is_file()] == []
    with httpx.Client(base_url=server.url, headers={"X-API-Key": server.admin_key}) as client:
        assert client.get("/v1/tasks").json()["tasks"] == []


@pytest.mark.slow
def test_upload_50_times_over_the_byte_limit_is_refused_in_bounded_memory(start_server) -> None:
    server = start_server(max_upload_bytes=MB)
    line_block = b"+12025551234\n" * (MB // 13)
    response, growth = upload_watching_memory(server, (line_block for _ in range(50)))
    assert response.status_code == 413, response.text
    assert response.json()["code"] == "file_too_large"
    assert growth < 50 * MB, f"server grew by {growth / MB:.1f} MB"
    nothing_kept(server)


@pytest.mark.slow
def test_one_50_mb_line_without_newline_is_refused_cleanly(start_server) -> None:
    server = start_server()  # default limits: the line-length limit is what trips
    block = b"9" * MB
    response, growth = upload_watching_memory(server, (block for _ in range(50)))
    assert response.status_code == 413, response.text
    assert response.json()["code"] == "line_too_long"
    assert growth < 50 * MB, f"server grew by {growth / MB:.1f} MB"
    nothing_kept(server)
    # The server is still healthy and takes the next upload.
    with httpx.Client(base_url=server.url, headers={"X-API-Key": server.admin_key}) as client:
        ok = client.post(
            "/v1/tasks",
            files={"file": ("n.txt", b"+12025551234\n")},
            data={"task_type": "validate"},
        )
        assert ok.status_code == 200


def test_a_gzip_bomb_under_the_size_limit_is_refused_by_its_ratio(start_server) -> None:
    """100 MiB of newlines in about 100 KB of gzip: under the 512 MiB size limit, so only the
    ratio limit (100 by default) can refuse it, and it does after the first megabyte."""
    server = start_server()
    bomb = gzip.compress(b"\n" * (100 * MB), compresslevel=9)
    assert len(bomb) * 100 < 100 * MB
    with httpx.Client(base_url=server.url, headers={"X-API-Key": server.admin_key}) as client:
        refused = client.post(
            "/v1/tasks",
            data={"task_type": "validate"},
            files={"file": ("numbers.txt.gz", bomb, "application/gzip")},
            timeout=120,
        )
    assert refused.status_code == 413, refused.text
    assert refused.json()["code"] == "file_too_large"
    assert "inflates more than 100 times" in refused.json()["message"]
    nothing_kept(server)
