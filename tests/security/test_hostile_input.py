"""Input crafted to break a parser is a 400 in the documented error shape, never a 500."""

from __future__ import annotations

import pytest

from tests.conftest import OAUTH_TEST_REDIRECT_URI


@pytest.mark.parametrize("tail", ['"', "\\", "\x7f"])
@pytest.mark.parametrize("path", ["/oauth/authorize", "/authorize"])
def test_a_redirect_uri_with_a_character_urls_cannot_carry_is_a_400(client, oauth_client, path, tail):
    response = client.get(path, query_string={
        "response_type": "code", "client_id": oauth_client.client_id,
        "redirect_uri": "http://x/" + tail, "state": "s",
    }, validate=False)
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert "Traceback" not in response.get_data(as_text=True)


def test_a_deeply_nested_json_body_is_a_400(client, auth_headers, site):
    response = client.post(f"/locks/{site.lock_ids[0]}/access_codes", headers={
        **auth_headers, "Content-Type": "application/json"}, data="[" * 10_000, validate=False)
    assert response.status_code == 400
    body = response.get_json()
    assert body["error_code"] and body["message"]


# As JSON text: the escapes themselves reach the parser, which makes lone surrogates of them.
@pytest.mark.parametrize("name", [r"\ud800x", r"x\udfff"])
def test_a_lone_surrogate_in_a_name_is_a_400(client, auth_headers, site, name):
    body = '{"name": "' + name + '", "code": "482913"}'
    response = client.post(f"/locks/{site.lock_ids[0]}/access_codes", headers={
        **auth_headers, "Content-Type": "application/json"}, data=body, validate=False)
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.get_json()["error_code"]


def test_the_redirect_uri_that_is_registered_still_works(client, oauth_client):
    response = client.get("/oauth/authorize", query_string={
        "response_type": "code", "client_id": oauth_client.client_id,
        "redirect_uri": OAUTH_TEST_REDIRECT_URI, "state": "s"})
    assert response.status_code == 200
