"""The OpenAPI description says what the server does: the key as an apiKey scheme on /v1,
400 (not FastAPI's 422) for validation errors, 503 everywhere, closed sets as enums, timestamps
as date-time; and a 405 names every method of its path."""

from __future__ import annotations

from typing import get_args

import pytest

from numcheck.api import schemas
from numcheck.states import TaskStatus
from tests.api.conftest import InProcess, InProcessFactory


@pytest.fixture(scope="module")
def app(in_process: InProcessFactory) -> InProcess:
    return in_process()


def operations(spec: dict) -> list[tuple[str, str, dict]]:
    return [
        (method.upper(), path, operation)
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    ]


def test_every_v1_route_takes_the_api_key_scheme_and_no_other_does(app: InProcess) -> None:
    spec = app.http.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"] == {
        "ApiKey": {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": "Your API key.",
        }
    }
    for method, path, operation in operations(spec):
        if path.startswith("/v1/"):
            assert operation.get("security") == [{"ApiKey": []}], (method, path)
            assert "401" in operation["responses"], (method, path)
        else:
            assert "security" not in operation, (method, path)
        names = [p["name"].lower() for p in operation.get("parameters", [])]
        assert "x-api-key" not in names, (method, path)  # the scheme, not a plain header


def test_validation_errors_are_400_with_the_error_body_and_503_is_documented(
    app: InProcess,
) -> None:
    spec = app.http.get("/openapi.json").json()
    assert "HTTPValidationError" not in str(spec)
    error = {"$ref": "#/components/schemas/ErrorBody"}
    for method, path, operation in operations(spec):
        responses = operation["responses"]
        assert "503" in responses, (method, path)
        if operation.get("parameters") or operation.get("requestBody"):
            assert responses["400"]["content"]["application/json"]["schema"] == error
        if "422" in responses:  # only numcheck's own: an Idempotency-Key reused
            assert (method, path) == ("POST", "/v1/tasks")
            assert responses["422"]["content"]["application/json"]["schema"] == error
    # And the server answers as documented: 400 with the error body.
    refused = app.client(app.admin_key).get("/v1/tasks", params={"limit": "many"})
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_request"


def test_closed_sets_are_enums_and_timestamps_date_times(app: InProcess) -> None:
    components = app.http.get("/openapi.json").json()["components"]["schemas"]
    states = sorted(str(state) for state in TaskStatus)
    assert sorted(get_args(schemas.TaskState)) == states
    for name in ("TaskStatus", "ContractStatus", "TaskCreated"):
        assert sorted(components[name]["properties"]["status"]["enum"]) == states, name
        assert components[name]["properties"]["created_at"]["format"] == "date-time", name
    assert components["TaskStatus"]["properties"]["updated_at"]["format"] == "date-time"
    assert components["UserInfo"]["properties"]["role"]["enum"] == ["user", "admin"]
    assert components["LoadResult"]["properties"]["mode"]["enum"] == ["replace", "add", "remove"]
    assert components["AuditInfo"]["properties"]["at"]["format"] == "date-time"
    assert components["Readiness"]["properties"]["status"]["enum"] == ["ready", "not_ready"]
    assert components["LookupRequest"]["properties"]["task_type"]["minLength"] == 1
    assert components["NewUser"]["properties"]["name"]["minLength"] == 1


def test_a_405_allows_every_method_of_its_path(app: InProcess) -> None:
    client = app.client(app.admin_key)
    for path, allowed in (
        ("/v1/tasks", "GET, POST"),
        ("/v1/tasks/dc62smijueqjkid76qrg", "DELETE, GET"),
        ("/v1/registries/htx", "DELETE, POST"),
    ):
        response = client.put(path)
        assert response.status_code == 405, path
        assert response.headers["allow"] == allowed, path
        assert response.json()["code"] == "method_not_allowed"
