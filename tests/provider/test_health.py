from __future__ import annotations

from sqlalchemy import inspect

from provider.extensions import db


def test_health_answers_ok_without_auth(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"ok": True}


def test_readiness_reports_database(client):
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.get_json() == {"ok": True, "database": "ok"}


def test_readiness_is_503_when_database_is_gone(make_app, tmp_path):
    broken = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/missing/dir/db.sqlite")
    response = broken.test_client().get("/health/ready")
    assert response.status_code == 503
    assert response.get_json()["ok"] is False


def test_unknown_path_is_a_json_404(client):
    response = client.get("/no-such-thing", validate=False)
    assert response.status_code == 404
    body = response.get_json()
    assert body["error_code"] == body["error_id"] == "NOT_FOUND"


def test_base_path_serves_everything_under_it(make_app):
    prefixed = make_app(PROVIDER_BASE_PATH="/devicecloud").test_client()
    assert prefixed.get("/devicecloud/health").get_json() == {"ok": True}
    assert prefixed.get("/health", validate=False).status_code == 404


def test_schema_comes_from_migrations(app):
    tables = set(inspect(db.engine).get_table_names())
    assert {"accounts", "events", "alembic_version"} <= tables


def test_proxy_hops_trust_forwarded_client_address(make_app):
    from flask import request

    behind_proxy = make_app(PROVIDER_PROXY_HOPS=1)

    @behind_proxy.get("/_whoami")
    def _whoami():
        return {"addr": request.remote_addr, "scheme": request.scheme}

    seen = behind_proxy.test_client().get(
        "/_whoami", headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"},
        validate=False,
    ).get_json()
    assert seen == {"addr": "203.0.113.7", "scheme": "https"}


def test_nul_bytes_are_a_400_never_a_database_error(client):
    # An id that cannot exist is a 404 before any guard; a NUL anywhere else is a 400.
    assert client.get("/locks/%00", validate=False).status_code == 404
    for path in ("/health?x=%00", "/locks?cursor=AA"):
        response = client.get(path, validate=False)
        assert response.status_code in (400, 401), path
        assert response.get_json()["error_code"] in ("INVALID_REQUEST", "UNAUTHORIZED")
    assert client.get("/health?x=%00").status_code == 400  # and documented
    token = client.post("/oauth/token", data={"client_id": "\x00", "grant_type": "refresh_token"},
                        validate=False)
    assert token.status_code == 400


def test_a_cursor_decoding_to_a_nul_is_a_400(client, auth_headers):
    response = client.get("/locks?limit=5&cursor=AA", headers=auth_headers)
    assert response.status_code == 400
    assert response.get_json()["error_code"] == "INVALID_REQUEST"
