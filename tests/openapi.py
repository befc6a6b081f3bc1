"""Checks real responses against openapi.yaml (openapi-core)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from flask.testing import FlaskClient
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_schema_validator import OAS31Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).resolve().parent.parent / "openapi.yaml"
SPEC_URI = "urn:provider:openapi"


@lru_cache(maxsize=1)
def spec() -> OpenAPI:
    return OpenAPI.from_file_path(str(SPEC_PATH))


class _RequestUnderBasePath(WerkzeugOpenAPIRequest):
    """Spec paths are relative to the deployment's base path, so drop it."""

    def __init__(self, request, base_path: str) -> None:
        super().__init__(request)
        self.base_path = base_path

    def get_path(self, path: str) -> str:
        if self.base_path and path.startswith(self.base_path):
            return path[len(self.base_path):] or "/"
        return path

    @property
    def body(self) -> bytes | None:
        # Only the response is validated; the app already consumed the
        # request stream (form posts), so reading it again would fail.
        return None


def assert_response_matches_spec(response, base_path: str = "") -> None:
    request = _RequestUnderBasePath(response.request, base_path)
    spec().validate_response(request, WerkzeugOpenAPIResponse(response))


class SpecCheckingClient(FlaskClient):
    """A test client that validates every response against openapi.yaml.

    Pass validate=False for requests that deliberately leave the spec
    (unknown paths, say).
    """

    def open(self, *args, validate: bool = True, **kwargs):
        response = super().open(*args, **kwargs)
        if validate:
            assert_response_matches_spec(
                response, self.application.config.get("PROVIDER_BASE_PATH", "")
            )
        return response


@lru_cache(maxsize=1)
def _webhook_validators() -> dict[str, Any]:
    """One validator per event type: the request body of its entry under `webhooks:`."""
    document = yaml.safe_load(SPEC_PATH.read_text())
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry = Registry().with_resource(SPEC_URI, resource)
    validators = {}
    for event_type, item in document.get("webhooks", {}).items():
        schema = item["post"]["requestBody"]["content"]["application/json"]["schema"]
        validators[event_type] = OAS31Validator(
            {"$ref": SPEC_URI + schema["$ref"]}, registry=registry, format_checker=OAS31Validator.FORMAT_CHECKER
        )
    return validators


def webhook_event_types() -> set[str]:
    return set(_webhook_validators())


def assert_event_matches_spec(payload: dict[str, Any] | bytes) -> None:
    """A webhook delivery (or an event of GET /events) against its type's entry in `webhooks:`."""
    if isinstance(payload, bytes):
        payload = json.loads(payload)
    validators = _webhook_validators()
    event_type = payload.get("event_type")
    assert event_type in validators, f"event type {event_type!r} is not under webhooks: in openapi.yaml"
    errors = sorted(validators[event_type].iter_errors(payload), key=lambda e: list(e.absolute_path))
    assert not errors, f"{event_type} does not match openapi.yaml: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in errors
    )
