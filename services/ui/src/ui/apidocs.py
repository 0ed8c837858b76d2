"""The merchant-facing API document, served through the edge: `/api/v1/openapi.json` and a
rendered page at `/api/docs`.

`openapi.json` beside this module is every public operation of the five services in one
document; `tests/contract/contracts.py` writes it from the services' own documents and the
contract tests fail when it drifts from them.
"""

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from ui.pages import templates

DOCUMENT = Path(__file__).parent / "openapi.json"
STYLESHEET = Path(__file__).parent / "static" / "style.css"  # the dashboard's, under /api/docs
METHODS = ("get", "post", "put", "patch", "delete")

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    required: bool
    description: str


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    description: str
    authenticated: bool
    parameters: list[Field]
    body: str | None
    responses: list[tuple[str, str, str | None]]  # (status, description, schema name)

    @property
    def anchor(self) -> str:
        """`post-api-v1-orders` for POST /api/v1/orders."""
        path = self.path.replace("/", "-").replace("{", "").replace("}", "")
        return f"{self.method.lower()}{path}"


@dataclass(frozen=True)
class Schema:
    name: str
    description: str
    fields: list[Field] = field(default_factory=list)


def type_of(schema: dict[str, Any]) -> str:
    """A short reading of a JSON Schema: `OrderPublic`, `string`, `integer | null`…"""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[1]
    if "const" in schema:
        return json.dumps(schema["const"])
    if "enum" in schema:
        return " | ".join(json.dumps(value) for value in schema["enum"])
    if "anyOf" in schema:
        return " | ".join(type_of(option) for option in schema["anyOf"])
    if schema.get("type") == "array":
        return f"array of {type_of(schema.get('items', {}))}"
    if schema.get("type") == "object" and "additionalProperties" in schema:
        values = schema["additionalProperties"]
        return f"object of {type_of(values) if isinstance(values, dict) else 'any'}"
    return str(schema.get("type", "any"))


def _schema_ref(content: dict[str, Any]) -> str | None:
    schema = content.get("application/json", {}).get("schema")
    return type_of(schema) if schema else None


def _operation(method: str, path: str, spec: dict[str, Any]) -> Operation:
    parameters = [
        Field(p["name"], f"{p['in']}, {type_of(p.get('schema', {}))}", p.get("required", False),
              p.get("description", ""))
        for p in spec.get("parameters", [])
    ]  # fmt: skip
    responses = [
        (status, answer.get("description", ""), _schema_ref(answer.get("content", {})))
        for status, answer in sorted(spec.get("responses", {}).items())
    ]
    return Operation(
        method=method.upper(),
        path=path,
        summary=spec.get("summary", ""),
        description=spec.get("description", ""),
        authenticated=bool(spec.get("security")),
        parameters=parameters,
        body=_schema_ref(spec.get("requestBody", {}).get("content", {})),
        responses=responses,
    )


def _schema(name: str, spec: dict[str, Any]) -> Schema:
    required = set(spec.get("required", []))
    fields = [
        Field(key, type_of(value), key in required, value.get("description", ""))
        for key, value in spec.get("properties", {}).items()
    ]
    description = spec.get("description", "")
    if not fields and "enum" in spec:
        description = f"{description} One of: {type_of(spec)}.".strip()
    return Schema(name, description, fields)


@cache
def reference() -> dict[str, Any]:
    """The document read once, grouped for the page: tags with their operations, schemas."""
    document: dict[str, Any] = json.loads(DOCUMENT.read_text())
    groups: dict[str, list[Operation]] = {}
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                spec = item[method]
                tag = (spec.get("tags") or ["other"])[0]
                groups.setdefault(tag, []).append(_operation(method, path, spec))
    schemas = [_schema(n, s) for n, s in document["components"].get("schemas", {}).items()]
    return {"info": document["info"], "groups": groups, "schemas": schemas}


@router.get("/api/v1/openapi.json")
async def openapi() -> FileResponse:
    return FileResponse(DOCUMENT, media_type="application/json")


@router.get("/api/docs/style.css")
async def stylesheet() -> FileResponse:
    return FileResponse(STYLESHEET, media_type="text/css")


@router.get("/api/docs")
async def docs(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "api_reference.html", reference())
