"""The browser-like driver reads the forms real login and consent pages are made of."""

from __future__ import annotations

import pytest

from certify.oauth_driver import choose_consent, fill, parse_forms, submit_data

LOGIN = """
<form method="POST" action="/oauth/login?next=x">
  <input type="hidden" name="csrf_token" value="tok123">
  <label>Email <input type="email" name="email" value=""></label>
  <input type="password" name="password">
  <input type="checkbox" name="remember" value="1">
  <input type="checkbox" name="agree" value="yes" checked>
  <button type="submit">Sign in</button>
</form>"""


def test_login_form_keeps_hidden_fields_and_fills_credentials():
    [form] = parse_forms(LOGIN)

    assert form.has_password and form.method == "post" and form.action == "/oauth/login?next=x"
    assert fill(form, "jane@example.com", "1234") == [
        ("csrf_token", "tok123"), ("email", "jane@example.com"), ("password", "1234"), ("agree", "yes"),
    ]


@pytest.mark.parametrize(
    ("html", "approve", "expected"),
    [
        # One form, two named buttons.
        ('<form method="post"><input type="hidden" name="csrf" value="c">'
         '<button name="decision" value="approve">Allow</button>'
         '<button name="decision" value="deny">Deny</button></form>', True, ("decision", "approve")),
        ('<form method="post"><button name="decision" value="approve">Allow</button>'
         '<button name="decision" value="deny">Deny</button></form>', False, ("decision", "deny")),
        # Submit inputs.
        ('<form method="post"><input type="submit" name="confirm" value="Authorize">'
         '<input type="submit" name="cancel" value="Cancel"></form>', True, ("confirm", "Authorize")),
        # One form per decision, unnamed buttons: the label decides.
        ('<form method="post" action="/deny"><button>No thanks, deny</button></form>'
         '<form method="post" action="/allow"><input type="hidden" name="csrf" value="c">'
         '<button>Approve access</button></form>', True, ("", "")),
    ],
)
def test_consent_button_is_chosen_by_meaning(html, approve, expected):
    form, button = choose_consent(parse_forms(html), approve)

    assert button is not None and (button[0], button[1]) == expected
    data = submit_data(form, button, [(n, v) for _, n, v in form.fields if n])
    if expected[0]:
        assert (expected[0], expected[1]) in data


def test_separate_forms_post_to_the_approving_one_with_its_csrf():
    html = ('<form method="post" action="/deny"><button>Deny</button></form>'
            '<form method="post" action="/allow"><input type="hidden" name="csrf" value="c">'
            '<button>Approve</button></form>')
    form, _ = choose_consent(parse_forms(html), True)

    assert form.action == "/allow"
    assert [(n, v) for _, n, v in form.fields] == [("csrf", "c")]


def test_a_page_without_a_decision_is_not_taken_for_consent():
    assert choose_consent(parse_forms("<h1>Invalid redirect URI</h1>"), True) is None
    assert choose_consent(parse_forms('<form action="/search"><input name="q"></form>'), True) is None
