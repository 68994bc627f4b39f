"""The OpenAPI document tells a client the shape of every answer."""

from __future__ import annotations

from service.main import create_app
from service.settings import Settings


def _spec() -> dict:
    return create_app(Settings(token="t" * 20)).openapi()


def test_every_2xx_answer_of_every_route_refers_to_a_schema() -> None:
    spec = _spec()
    untyped = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if not status.startswith("2"):
                    continue
                content = response.get("content", {})
                if not content:
                    untyped.append(f"{method.upper()} {path} {status}: no content")
                for media, body in content.items():
                    schema = body.get("schema", {})
                    typed = "$ref" in schema if media == "application/json" else schema.get("type") == "string"
                    if not typed:
                        untyped.append(f"{method.upper()} {path} {status} {media}: {schema}")
    assert untyped == []


def test_every_error_status_a_route_declares_has_the_error_schema() -> None:
    spec = _spec()
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            for status in ("401", "404", "409", "413"):
                body = operation["responses"][status]["content"]["application/json"]["schema"]
                assert body == {"$ref": "#/components/schemas/ErrorResponse"}, (path, status)


def test_the_canary_verdict_schema_names_its_figures() -> None:
    schemas = _spec()["components"]["schemas"]
    assert set(schemas["CanaryVerdict"]["required"]) >= {"candidate", "live", "passed", "failures", "figures"}
    assert set(schemas["AccuracyFigures"]["properties"]) >= {"ndcg@10_live", "ndcg@10_candidate", "history_excluded"}
