"""The owner's pages over the test client: each route calls the API's services and rules."""

from __future__ import annotations

from flask.testing import FlaskClient

from provider.extensions import db
from provider.models import AccessCode, Action, Command


def test_pages_need_a_signed_in_owner(pages, site):
    response = pages.get("/account/locks")
    assert response.status_code == 303
    assert "/account/sign-in?next=/account/locks" in response.headers["Location"]


def test_wrong_password_is_refused_in_a_sentence(pages, account):
    response = pages.post("/account/sign-in", {"email": "jane@example.com", "password": "nope"},
                          page="/account/sign-in")
    assert response.status_code == 401
    assert "Wrong email or password." in response.get_data(as_text=True)


def test_post_without_csrf_token_is_refused(pages, account):
    response = pages.client.post("/account/sign-in", data={"email": "jane@example.com", "password": "1234"})
    assert response.status_code == 400
    assert "The form expired" in response.get_data(as_text=True)


def test_sign_in_follows_only_local_next(pages, account):
    pages.get("/account/sign-in")
    response = pages.post("/account/sign-in?next=//evil.example.com/x",
                          {"email": "jane@example.com", "password": "1234"})
    assert response.headers["Location"].endswith("/account/locks")


def test_locks_page_shows_state_battery_and_connection(owner_pages, site):
    html = owner_pages.get("/account/locks").get_data(as_text=True)
    assert "Door 0" in html and "Door 1" in html
    assert "65 %" in html
    assert "online" in html and "locked" in html


def test_another_owners_lock_is_not_found(owner_pages, other_site):
    lock_id = other_site.locks[0].id
    assert owner_pages.get(f"/account/locks/{lock_id}").status_code == 404
    response = owner_pages.post(f"/account/locks/{lock_id}/actions", {"action": "unlock"})
    assert response.status_code == 404
    assert db.session.query(Action).count() == 0


def test_unlock_goes_through_the_action_service_as_mobile_app(owner_pages, site):
    lock = site.locks[0]
    response = owner_pages.post(f"/account/locks/{lock.id}/actions", {"action": "unlock"},
                                page=f"/account/locks/{lock.id}")
    assert response.status_code == 303
    action = db.session.query(Action).one()
    assert (action.action, action.performed_via, action.status) == ("unlock", "mobile_app", "pending")
    assert db.session.query(Command).filter_by(action_id=action.id).one().type == "unlock"


def test_create_code_with_the_api_error_text(owner_pages, site):
    lock = site.locks[0]
    response = owner_pages.post(f"/account/locks/{lock.id}/codes", {"name": "Cleaner", "code": "12a4"},
                                page=f"/account/locks/{lock.id}")
    assert response.status_code == 400
    assert "The code must contain digits only." in response.get_data(as_text=True)
    assert db.session.query(AccessCode).count() == 0


def test_code_window_is_read_in_the_locks_timezone(owner_pages, site, frozen_clock):
    lock = site.locks[0]
    lock.timezone = "Europe/Berlin"
    db.session.commit()
    response = owner_pages.post(
        f"/account/locks/{lock.id}/codes",
        {"name": "Guest", "code": "4821", "starts_at": "2031-07-01T15:00", "ends_at": "2031-07-03T11:00"},
        page=f"/account/locks/{lock.id}",
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    code = db.session.query(AccessCode).one()
    assert code.starts_at.isoformat() == "2031-07-01T13:00:00+00:00"  # CEST is UTC+2
    html = owner_pages.get(f"/account/locks/{lock.id}").get_data(as_text=True)
    assert "01 Jul 2031 15:00 CEST" in html


def test_edit_and_delete_a_code(owner_pages, site):
    lock = site.locks[0]
    owner_pages.post(f"/account/locks/{lock.id}/codes", {"name": "Guest", "code": "4821"},
                     page=f"/account/locks/{lock.id}")
    code = db.session.query(AccessCode).one()
    response = owner_pages.post(f"/account/codes/{code.id}/edit", {"name": "Guest", "code": "9999"},
                                page=f"/account/codes/{code.id}/edit")
    assert response.status_code == 303
    db.session.expire_all()
    assert code.revision == 2
    response = owner_pages.post(f"/account/codes/{code.id}/delete", page=f"/account/locks/{lock.id}")
    assert response.status_code == 303
    db.session.expire_all()
    assert code.status in ("removing", "removed")


def test_history_lists_the_locks_events_filtered_by_type(owner_pages, site):
    lock = site.locks[0]
    owner_pages.post(f"/account/locks/{lock.id}/codes", {"name": "Guest", "code": "4821"},
                     page=f"/account/locks/{lock.id}")
    html = owner_pages.get(f"/account/locks/{lock.id}/history").get_data(as_text=True)
    added = '<td data-label="What">Added to your account</td>'
    assert added in html
    filtered = owner_pages.get(f"/account/locks/{lock.id}/history?type=device.online").get_data(as_text=True)
    assert added not in filtered
    assert "Nothing happened in this period." in filtered


def test_connected_app_is_listed_and_revoked(owner_pages, account, make_token, client):
    token = make_token(account)
    html = owner_pages.get("/account/apps").get_data(as_text=True)
    assert "Test client" in html
    grant_id = html.split("/account/apps/")[1].split("/revoke")[0]
    response = owner_pages.post(f"/account/apps/{grant_id}/revoke")
    assert response.status_code == 303
    assert client.get("/locks", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert "Test client" not in owner_pages.get("/account/apps").get_data(as_text=True)


def test_another_owners_grant_cannot_be_revoked(owner_pages, other_account, make_token, client):
    token = make_token(other_account)
    from provider.models import OAuthToken

    grant_id = db.session.query(OAuthToken).one().client_pk
    assert owner_pages.post(f"/account/apps/{grant_id}/revoke").status_code == 404
    assert client.get("/locks", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_change_password(owner_pages, pages):
    response = owner_pages.post("/account/password", {"current_password": "1234", "new_password": "s3cret-pw",
                                                      "confirm": "s3cret-pw"}, page="/account/password")
    assert response.status_code == 303
    owner_pages.post("/account/sign-out")
    pages.sign_in(password="s3cret-pw")


def test_wrong_current_password_changes_nothing(owner_pages):
    response = owner_pages.post("/account/password", {"current_password": "nope", "new_password": "long-enough-1",
                                                      "confirm": "long-enough-1"}, page="/account/password")
    assert response.status_code == 400
    assert "The current password is wrong." in response.get_data(as_text=True)


def test_unknown_page_is_a_branded_sentence(owner_pages):
    response = owner_pages.get("/account/nowhere")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "There is nothing at this address." in html
    assert "support@example.com" in html


def test_oauth_error_page_is_a_plain_sentence_with_support(client, oauth_client):
    from tests.provider.oauth.conftest import authorize_params

    params = authorize_params(oauth_client.client_id, redirect_uri="https://evil.example.com/cb")
    response = client.get("/oauth/authorize", query_string=params)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "stopped here to protect your account" in html
    assert "support@example.com" in html
    assert "not supported by client" not in html and "evil.example.com" not in html


def test_branding_comes_from_configuration(make_app, account):
    branded = make_app(BRAND_NAME="Acme Doors", BRAND_COLOUR="#7c2d12", BRAND_SUPPORT_CONTACT="help@acme.test")
    html = FlaskClient(branded, branded.response_class).get("/account/sign-in").get_data(as_text=True)
    assert "Sign in to Acme Doors" in html
    assert "--brand: #7c2d12" in html
    assert "help@acme.test" in html


def test_consent_page_says_how_to_revoke_and_not_you_signs_out(client, account, oauth_client):
    from tests.provider.oauth.conftest import Browser, authorize_params, csrf_token

    browser = Browser(client)
    params = authorize_params(oauth_client.client_id)
    assert browser.sign_in(params).status_code == 303
    html = browser.open(params).get_data(as_text=True)
    assert "Connected apps" in html and "/account/apps" in html
    assert "Not you?" in html
    response = client.post("/oauth/authorize", query_string=params,
                           data={"csrf_token": csrf_token(html), "step": "switch"})
    assert response.status_code == 303
    assert 'value="login"' in browser.open(params).get_data(as_text=True)


def test_lock_action_from_the_list_returns_to_the_list(owner_pages, site):
    lock = site.locks[0]
    response = owner_pages.post(f"/account/locks/{lock.id}/actions", {"action": "lock", "from": "list"},
                                page="/account/locks")
    assert response.headers["Location"].endswith("/account/locks")


def test_the_list_pages_lock_forms_say_where_they_are(owner_pages, site):
    html = owner_pages.get("/account/locks").get_data(as_text=True)
    assert html.count('name="from" value="list"') == 2
