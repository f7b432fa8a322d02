"""A worker process imports only what running jobs needs: migrations (alembic) and sending
webhooks (httpx, which brings rich and click along) stay in the processes that do them, so each
worker is that much smaller (bench/memory.py measures it)."""

from __future__ import annotations

import json
import subprocess
import sys


def test_the_worker_entry_point_leaves_migrations_and_http_unimported() -> None:
    code = (
        "import json, sys; import numcheck.tasks.runner; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = set(
        json.loads(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
    )
    assert "numcheck" in loaded and "sqlalchemy" in loaded  # it did import the worker
    assert not loaded & {"alembic", "httpx", "rich", "click"}
