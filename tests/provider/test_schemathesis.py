"""Schemathesis over the whole openapi.yaml against the app (WSGI).

Authenticated with an owner's OAuth token, a bridge token and the OAuth
client's credentials (webhook management), on a database holding real locks,
codes and actions, so that generated requests reach the happy paths too
(path ids are swapped for real ones in half of the examples). Asserts: no
server error (except the legacy endpoints' documented HTTP 500s) and every
response conforms to the spec (status, content type, headers, body).
Bounded: a few examples per operation; `make chaos` runs the long version.

Also, per operation: a third of the examples go out as a second OAuth client, which
only the other owner authorised (its Basic credentials, its token for that owner);
whatever it gets back must hold nothing of the first owner (ids, events). And a
fixed set of hostile inputs (deep JSON nesting, lone surrogates, a redirect_uri with
characters URLs cannot carry) must answer below 500, in the documented shape.
"""

from __future__ import annotations

import base64
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from provider.extensions import db
from provider.models import Event
from provider.services import access_codes, actions, rate_limits
from tests.openapi import SPEC_PATH
from tests.provider.devices.conftest import make_site

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "8"))
CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# The older guide's endpoints answer HTTP 500 (documented) when the lock cannot act.
LEGACY_500 = {
    ("POST", "/locks/{lock_id}/unlock"),
    ("POST", "/locks/{lock_id}/lock"),
    ("DELETE", "/access_codes/{access_code_id}"),
}


@pytest.fixture
def world(app, account, other_account, make_token, oauth_client):
    from provider.services.oauth_clients import create_client
    from provider.services.oauth_tokens import issue_token

    site = make_site(app, account)
    make_site(app, other_account, count=1)
    make_token(other_account)  # both owners authorised the first client
    second, second_secret = create_client("Second", ["https://second.example.com/cb"], "locks.read locks.write",
                                          client_id="second-client")
    second_token = issue_token(second, other_account, "locks.read locks.write")["access_token"]
    limiter = rate_limits.DatabaseRateLimiter()
    code = access_codes.create_code(account.id, site.lock_ids[0], code="482913", name="Guest", limiter=limiter)
    action = actions.request_action(account.id, site.lock_ids[1], "unlock", limiter=limiter)
    db.session.commit()
    command = site.helper.poll(limit=1)
    basic = base64.b64encode(f"{oauth_client.client_id}:{oauth_client.secret}".encode()).decode()
    basic2 = base64.b64encode(f"second-client:{second_secret}".encode()).decode()
    first_owner_ids = [account.id, *site.lock_ids, code.id, action.id]
    first_owner_ids += [e.event_id for e in db.session.scalars(db.select(Event).where(Event.user_id == account.id))]
    return {
        "second": {
            "bearer": {"Authorization": f"Bearer {second_token}"},
            "bridge": {"Authorization": f"Bearer {site.token}"},
            "basic": {"Authorization": f"Basic {basic2}"},
        },
        "first_owner_ids": first_owner_ids,
        "ids": {
            "lock_id": site.lock_ids[0],
            "access_code_id": code.id,
            "action_id": action.id,
            "command_id": command[0]["command_id"] if command else "none",
        },
        "bearer": {"Authorization": f"Bearer {make_token(account)}"},
        "bridge": {"Authorization": f"Bearer {site.token}"},
        "basic": {"Authorization": f"Basic {basic}"},
    }


def _headers_for(path: str, identity: dict) -> dict[str, str]:
    if path.startswith("/bridge/"):
        return identity["bridge"]
    if path.startswith("/webhooks") or (path.startswith("/events") and "basic_events" in identity):
        return identity["basic"]
    return identity["bearer"]


def _check(case, world) -> None:
    if case.path_parameters and hash(repr(sorted(case.path_parameters.items()))) % 2 == 0:
        for name in case.path_parameters:
            if name in world["ids"]:
                case.path_parameters[name] = world["ids"][name]
    shape = hash(repr((case.query, case.body, case.path_parameters)))
    as_second = shape % 3 == 0
    identity = dict(world["second"] if as_second else world)
    if shape % 2:
        identity["basic_events"] = True  # the event feed with the client's own credentials
    headers = {**(case.headers or {}), **_headers_for(case.path, identity)}
    response = case.call(headers=headers)
    if response.status_code >= 500:
        assert (case.method.upper(), case.path) in LEGACY_500, (
            f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
        )
    case.validate_response(response, checks=CHECKS)
    if as_second and not case.path.startswith("/bridge/") and response.status_code < 300:
        leaked = [i for i in world["first_owner_ids"] if i in response.text]
        assert not leaked, f"{case.method} {case.formatted_path} as the second client showed {leaked}"


# Inputs crafted to break a parser: (method, path template, request keyword arguments).
HOSTILE = [
    *[("POST", path, {"data": "[" * 10_000, "content_type": "application/json"})
      for path in ("/locks/{lock_id}/access_codes", "/locks/{lock_id}/actions", "/webhooks", "/oauth/token")],
    ("POST", "/locks/{lock_id}/access_codes", {"data": '{"name": "\\ud800x", "code": "482913"}',
                                               "content_type": "application/json"}),
    ("PATCH", "/access_codes/{access_code_id}", {"data": '{"name": "x\\udfff"}', "content_type": "application/json"}),
    ("POST", "/webhooks", {"data": '{"url": "https://\\ud800.example.com/"}', "content_type": "application/json"}),
    *[("GET", f"{path}?response_type=code&client_id=test-client&state=s&redirect_uri=http://x/{tail}", {})
      for path in ("/oauth/authorize", "/authorize") for tail in ("%22", "%5C", "%7F")],
]


def test_hostile_inputs_are_client_errors_in_the_documented_shape(app, world):
    client = app.test_client()  # checks every response against openapi.yaml
    failures = []
    for method, template, kwargs in HOSTILE:
        path = template.format(**world["ids"])
        headers = _headers_for(template.split("?")[0], world)
        response = client.open(path, method=method, headers=headers, **kwargs)
        if response.status_code >= 500:
            failures.append(f"{method} {template}: {response.status_code}")
    assert not failures, failures


def test_whole_spec_conforms(app, world, monkeypatch):
    # Waits are bounded by config; here they need not be long to be exercised.
    monkeypatch.setitem(app.config, "BRIDGE_POLL_MAX_SECONDS", 0.05)
    monkeypatch.setitem(app.config, "ACTION_WAIT_SECONDS", 0.05)
    schema = schemathesis.openapi.from_path(str(SPEC_PATH))
    schema.app = app
    failures = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30
    for operation in operations:

        @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
                  suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def run(case):
            _check(case, world)

        try:
            run()
        except Exception as err:  # collect every operation's failure, then report
            failures.append(f"{operation.method.upper()} {operation.path}: {err}")
    assert not failures, "\n\n".join(failures)
