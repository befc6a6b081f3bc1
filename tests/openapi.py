"""Checks real responses against openapi.yaml (openapi-core)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from flask.testing import FlaskClient
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse

SPEC_PATH = Path(__file__).resolve().parent.parent / "openapi.yaml"


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
