"""Result links: where a client downloads an exported task's zip, freshly signed each time."""

from __future__ import annotations

from fastapi import Request

from numcheck.api import signing
from numcheck.api.runtime import Runtime
from numcheck.states import TaskStatus
from numcheck.storage import blobs as blob_keys
from numcheck.storage.models import Task


def result_url(request: Request, runtime: Runtime, task: Task) -> str | None:
    """A link to an exported task's zip: presigned where the store serves it (S3), else this
    server's HMAC-signed `/results/…` route; None for a task without a result."""
    if task.status != TaskStatus.EXPORTED:
        return None
    settings = runtime.stores.settings
    presigned = runtime.stores.blobs.download_url(
        blob_keys.result_key(task.id), f"{task.id}.zip", settings.result_link_ttl_seconds
    )
    if presigned is not None:
        return presigned
    expires, signature = signing.sign(
        runtime.link_secret, task.id, task.user_id, settings.result_link_ttl_seconds
    )
    base = (settings.public_url or str(request.base_url)).rstrip("/")
    return f"{base}/results/{task.id}.zip?expires={expires}&signature={signature}"
