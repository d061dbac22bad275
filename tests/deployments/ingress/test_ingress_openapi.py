"""The OpenAPI document says what the ingress answers (the fuzz test holds it to that)."""

from __future__ import annotations

import re
import sys

import pytest

from deployments.common.text import SEARCHABLE
from deployments.ingress.config import AdmissionConfig, IngressConfig
from deployments.ingress.schemas import ID_PATTERN, MAX_REQUEST_TEXT_CHARS, NOT_BLANK
from tests.deployments.ingress.fakes import fake_api


@pytest.fixture(scope="module")
def spec() -> dict:
    return fake_api().openapi()


def _op(spec: dict, path: str, method: str = "post") -> dict:
    return spec["paths"][path][method]


def test_no_operation_documents_fastapis_422(spec):
    for operations in spec["paths"].values():
        for op in operations.values():
            assert "422" not in op["responses"]
    assert not {"HTTPValidationError", "ValidationError"} & set(spec["components"]["schemas"])


@pytest.mark.parametrize("path", ["/v1/query", "/v1/search", "/v1/documents"])
def test_graph_routes_document_every_status_they_answer(spec, path):
    responses = _op(spec, path)["responses"]
    assert sorted(responses) == ["200", "400", "401", "403", "413", "429", "500", "503", "504"]
    for status, response in responses.items():
        assert response["headers"]["X-Request-Id"]["required"] is True
        if status != "200":
            ref = response["content"]["application/json"]["schema"]["$ref"]
            assert ref == "#/components/schemas/ErrorBody"
    for status in ("429", "503"):
        assert responses[status]["headers"]["Retry-After"]["required"] is True
    assert "WWW-Authenticate" in responses["401"]["headers"]


def test_healthz_documents_its_own_body_for_200_and_503(spec):
    responses = _op(spec, "/healthz", "get")["responses"]
    assert sorted(responses) == ["200", "500", "503"]
    for status in ("200", "503"):
        ref = responses[status]["content"]["application/json"]["schema"]["$ref"]
        assert ref == "#/components/schemas/HealthBody"


def test_the_error_body_is_the_contracts(spec):
    schemas = spec["components"]["schemas"]
    assert schemas["ErrorBody"]["required"] == ["error"]
    detail = schemas["ErrorDetail"]
    assert sorted(detail["required"]) == ["code", "message", "param", "request_id", "type"]
    assert detail["additionalProperties"] is False


def test_request_fields_say_what_the_server_accepts(spec):
    schemas = spec["components"]["schemas"]
    top_k = schemas["QueryRequest"]["properties"]["top_k"]
    assert top_k["type"] == "integer" and (top_k["minimum"], top_k["maximum"]) == (1, 50)
    assert schemas["QueryRequest"]["properties"]["query"]["pattern"] == SEARCHABLE
    text = schemas["DocumentIn"]["properties"]["text"]
    assert (text["maxLength"], text["pattern"]) == (MAX_REQUEST_TEXT_CHARS, NOT_BLANK)
    assert schemas["DocumentIn"]["properties"]["id"]["pattern"] == ID_PATTERN  # null: no pattern


def test_the_timeout_header_is_a_number_up_to_the_configured_maximum():
    cfg = IngressConfig(admission=AdmissionConfig(max_deadline_s=45.0))
    (param,) = [
        p
        for p in fake_api(config=cfg).openapi()["paths"]["/v1/query"]["post"]["parameters"]
        if p["name"] == "X-Request-Timeout"
    ]
    schema = param["schema"]
    assert (schema["type"], schema["exclusiveMinimum"], schema["maximum"]) == ("number", 0, 45.0)


def test_the_document_is_built_once_and_served(spec):
    api = fake_api()
    assert api.openapi() is api.openapi()
    from fastapi.testclient import TestClient

    served = TestClient(api).get("/openapi.json").json()
    assert "422" not in served["paths"]["/v1/query"]["post"]["responses"]


def test_not_blank_is_exactly_pythons_whitespace():
    pattern = re.compile(NOT_BLANK)
    wrong = [
        hex(c)
        for c in range(sys.maxunicode + 1)
        if (pattern.fullmatch(chr(c)) is None) != chr(c).isspace()
    ]
    assert wrong == []


@pytest.mark.parametrize(
    ("doc_id", "valid"),
    [("Zürich — 東京", True), (" a ", True), ("   ", False), ("a\nb", False), ("\x85x", False)],
)
def test_the_id_pattern_agrees_with_the_servers_check(doc_id, valid):
    from deployments.common.ids import id_problem

    assert (id_problem(doc_id) is None) is valid
    assert (re.fullmatch(ID_PATTERN.strip("^$"), doc_id) is not None) is valid
