"""`GET /metrics`: the Prometheus scrape, behind a bearer token (NUMCHECK_METRICS_TOKEN).

Without a token configured the route answers 404, as if absent: the metrics are then served on
NUMCHECK_METRICS_PORT, or to administrators at `/v1/admin/metrics`, or not at all.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Header, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException

from numcheck import errors
from numcheck.api.deps import RuntimeDep

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
def scrape(runtime: RuntimeDep, authorization: Annotated[str | None, Header()] = None) -> Response:
    token = runtime.stores.settings.metrics_token
    if token is None:
        raise HTTPException(404, "Not Found")
    scheme, _, given = (authorization or "").partition(" ")
    expected = token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        raise errors.MetricsTokenRequired()
    return Response(generate_latest(runtime.metrics), media_type=CONTENT_TYPE_LATEST)
