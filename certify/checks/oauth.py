"""OAuth 2.0 authorization code flow (contract §1), driven like a browser.

Three authorizations share the work, so that a check that revokes tokens never
pulls the rug from under the next one: A (state, token response, refreshes),
B (prompt=login; its access token calls the API), C (code replay).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import requests

from certify.checks.common import evidence, expect_status, fail
from certify.context import Context, Tokens
from certify.http import bearer, json_body
from certify.oauth_driver import Browser, FlowResult
from certify.registry import LEGACY, CheckFailed, CheckSkipped, check

# A host under the reserved .invalid TLD: a redirect there can never reach anyone.
ATTACKER_HOST = "certify-attacker.invalid"
UNREGISTERED_REDIRECT = f"https://{ATTACKER_HOST}/oauth/callback"
# RFC 6749 §5.2 says 400 (401 when the client authenticated with Basic); both are accepted.
TOKEN_ERROR_STATUSES = frozenset({400, 401})
# RFC 6750 §3.1 says 401 for a missing or invalid token; 403 also keeps the data out of reach.
UNAUTHENTICATED_STATUSES = frozenset({401, 403})
API_PROBE = "/locks"


def _params(ctx: Context, state: str, *, redirect_uri: str | None = None, prompt_login: bool = True) -> dict[str, str]:
    s = ctx.settings
    params = {
        "response_type": "code",
        "client_id": s.client_id,
        "redirect_uri": redirect_uri or s.redirect_uri,
        "scope": s.scope,
        "state": state,
    }
    if prompt_login:
        params["prompt"] = "login"
    return params


def _browser(ctx: Context) -> Browser:
    return Browser(ctx.http, ctx.settings.username, ctx.settings.password)


def _same_endpoint(target: str, uri: str) -> bool:
    """Whether a redirect goes to `uri`: same scheme, authority and path, and uri's query kept."""
    a, b = urlsplit(target), urlsplit(uri)
    if (a.scheme.lower(), a.netloc.lower(), a.path or "/") != (b.scheme.lower(), b.netloc.lower(), b.path or "/"):
        return False
    return set(parse_qsl(b.query)) <= set(parse_qsl(a.query))


def exchange(ctx: Context, code: str, *, client_secret: str | None = None) -> requests.Response:
    s = ctx.settings
    return ctx.http.post(
        s.token_path,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": s.redirect_uri,
            "client_id": s.client_id,
            "client_secret": s.client_secret if client_secret is None else client_secret,
        },
    )


def refresh(ctx: Context, refresh_token: str, *, client_secret: str | None = None) -> requests.Response:
    s = ctx.settings
    return ctx.http.post(
        s.token_path,
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": s.client_id,
            "client_secret": s.client_secret if client_secret is None else client_secret,
        },
    )


def _tokens(response: requests.Response) -> Tokens | None:
    body = json_body(response)
    if response.status_code != 200 or not isinstance(body, dict):
        return None
    access = body.get("access_token")
    if not isinstance(access, str) or not access:
        return None
    refresh_token = body.get("refresh_token")
    return Tokens(access, refresh_token if isinstance(refresh_token, str) else None, body.get("user_id"), body)


def _api_status(ctx: Context, token: str) -> requests.Response:
    return ctx.http.get(API_PROBE, headers=bearer(token))


def _complete(ctx: Context, flow: FlowResult, what: str) -> str:
    """The code from a finished flow that went back to the registered redirect URI."""
    if not flow.redirect:
        raise fail(f"{what}: the flow did not come back to the redirect URI ({flow.error}; pages seen: "
                   f"{', '.join(flow.pages) or 'none'})", flow.final)
    if not _same_endpoint(flow.redirect, ctx.settings.redirect_uri):
        raise fail(f"{what}: redirected to {urlsplit(flow.redirect)._replace(query='').geturl()}, "
                   "not to the registered redirect URI", flow.final)
    params = flow.params
    if "error" in params:
        raise fail(f"{what}: the provider refused the authorization: error={params['error']} "
                   f"{params.get('error_description', '')}".strip(), flow.final)
    if not params.get("code"):
        raise fail(f"{what}: the redirect carries no code", flow.final)
    return params["code"]


@check("oauth.state_echoed")
def state_echoed(ctx: Context) -> str | None:
    """The browser-like flow (login, consent) redirects to redirect_uri with a code and the same state."""
    browser = _browser(ctx)
    ctx.values["browser"] = browser
    state = ctx.nonce("st-") + "~.-_"  # the characters a real state may carry
    flow = browser.authorize(ctx.settings.authorize_path, _params(ctx, state))
    ctx.values["code_a"] = _complete(ctx, flow, "authorization A")
    echoed = flow.params.get("state")
    if echoed != state:
        raise fail(
            f"state came back as {echoed!r}, not unchanged ({state!r}): Seam rejects the callback"
            if echoed is not None else "the redirect carries no state parameter: Seam rejects the callback",
            flow.final,
        )
    return f"pages: {' → '.join(flow.pages)} → redirect"


def _token_problems(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return ["the body is not a JSON object"]
    problems = []
    for name in ("access_token", "refresh_token"):
        if not isinstance(body.get(name), str) or not body.get(name):
            problems.append(f"{name} missing or not a non-empty string")
    token_type = body.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        problems.append(f"token_type is {token_type!r}, expected 'Bearer'")
    expires_in = body.get("expires_in")
    if not isinstance(expires_in, int) or isinstance(expires_in, bool) or expires_in <= 0:
        problems.append(f"expires_in is {expires_in!r}, expected a positive integer (3600 is typical)")
    user_id = body.get("user_id")
    if isinstance(user_id, bool) or not isinstance(user_id, str | int) or user_id == "":
        problems.append(f"user_id is {user_id!r}, expected a permanent account id (string)")
    return problems


@check("oauth.token_response")
def token_response(ctx: Context) -> str | None:
    """POST /oauth/token (authorization_code) answers access_token, token_type Bearer, expires_in, refresh_token, user_id."""
    code = ctx.need("code_a")
    response = exchange(ctx, code)
    expect_status(response, {200}, "exchanging the authorization code")
    body = json_body(response)
    tokens = _tokens(response)
    if tokens is not None:
        ctx.values["tokens_a"] = tokens
        ctx.values["api_token"] = tokens.access_token
        ctx.values.setdefault("user_ids", []).append(("authorization A", tokens.user_id))
    problems = _token_problems(body)
    if problems:
        raise fail("token response: " + "; ".join(problems), response)
    note = f"expires_in={body['expires_in']}"
    if body["token_type"] != "Bearer":
        note += f", token_type {body['token_type']!r} (accepted: case-insensitive per RFC 6749)"
    return note


@check("oauth.prompt_login")
def prompt_login(ctx: Context) -> str | None:
    """With a signed-in browser session, prompt=login still shows the login form."""
    ctx.need("code_a", "the first authorization failed; see oauth.state_echoed")
    browser: Browser = ctx.need("browser")
    # Without prompt=login, does the provider remember the browser at all?
    remembered = browser.authorize(ctx.settings.authorize_path, _params(ctx, ctx.nonce(), prompt_login=False),
                                   login=False)
    flow = browser.authorize(ctx.settings.authorize_path, _params(ctx, ctx.nonce()))
    first_page = flow.pages[0] if flow.pages else ("redirect" if flow.redirect else "none")
    if first_page != "login":
        raise fail(f"with a live session and prompt=login the provider showed {first_page!r} first, "
                   "not the login form", flow.final)
    code = _complete(ctx, flow, "authorization B")
    response = exchange(ctx, code)
    tokens = _tokens(response)
    if tokens is None:
        raise fail(f"authorization B: exchanging the code failed (HTTP {response.status_code})", response)
    ctx.values["tokens_b"] = tokens
    ctx.values["api_token"] = tokens.access_token
    ctx.values.setdefault("user_ids", []).append(("authorization B", tokens.user_id))
    if remembered.pages[:1] == ["login"]:
        return "the provider asks for the password on every authorization, so prompt=login holds trivially"
    return "login form shown again despite the session"


@check("oauth.deny_redirects_access_denied")
def deny(ctx: Context) -> str | None:
    """Denying consent redirects to redirect_uri with error=access_denied and the state, and no code."""
    ctx.need("code_a", "the first authorization failed; see oauth.state_echoed")
    browser = _browser(ctx)
    state = ctx.nonce()
    flow = browser.authorize(ctx.settings.authorize_path, _params(ctx, state), approve=False)
    if not flow.redirect:
        raise fail(f"denying consent did not redirect back ({flow.error}; pages: {', '.join(flow.pages)})",
                   flow.final)
    params = flow.params
    problems = []
    if not _same_endpoint(flow.redirect, ctx.settings.redirect_uri):
        problems.append("redirected somewhere other than the redirect URI")
    if params.get("error") != "access_denied":
        problems.append(f"error={params.get('error')!r}, expected 'access_denied'")
    if params.get("state") != state:
        problems.append("state not echoed")
    if "code" in params:
        problems.append("a code was issued although the owner denied")
    if problems:
        raise fail("denial: " + "; ".join(problems), flow.final)
    return None


@check("oauth.refresh_keeps_old_tokens")
def refresh_keeps_old_tokens(ctx: Context) -> str | None:
    """A refresh issues a new access token, and the earlier unexpired one keeps working."""
    tokens: Tokens = ctx.need("tokens_a")
    if not tokens.refresh_token:
        raise CheckSkipped("the token response had no refresh_token")
    before = _api_status(ctx, tokens.access_token)
    if before.status_code != 200:
        raise fail(f"the access token did not work even before refreshing (HTTP {before.status_code} on "
                   f"GET {API_PROBE})", before)
    response = refresh(ctx, tokens.refresh_token)
    new = _tokens(response)
    if new is None:
        raise fail(f"refresh_token grant failed (HTTP {response.status_code})", response)
    ctx.values.setdefault("user_ids", []).append(("refresh 1", new.user_id))
    ctx.values["latest_refresh_token"] = new.refresh_token or tokens.refresh_token
    if new.access_token == tokens.access_token:
        raise fail("the refresh returned the same access token: no new token was issued", response)
    with_new = _api_status(ctx, new.access_token)
    if with_new.status_code != 200:
        raise fail(f"the refreshed access token does not work (HTTP {with_new.status_code})", response, with_new)
    with_old = _api_status(ctx, tokens.access_token)
    if with_old.status_code != 200:
        raise fail(f"after a refresh the earlier access token is refused (HTTP {with_old.status_code}): Seam's "
                   "requests in flight would fail", response, with_old)
    return None


@check("oauth.concurrent_refresh")
def concurrent_refresh(ctx: Context) -> str | None:
    """N refreshes at once with the same refresh token all succeed."""
    token = ctx.need("latest_refresh_token", "no refresh token: the single refresh failed")
    count = max(2, ctx.settings.concurrent_refreshes)
    barrier = threading.Barrier(count, timeout=ctx.settings.http_timeout)

    def one(_: int) -> requests.Response:
        barrier.wait()
        return refresh(ctx, token)

    with ThreadPoolExecutor(count) as pool:
        responses = list(pool.map(one, range(count)))
    results = [_tokens(r) for r in responses]
    for index, tokens in enumerate(results, 1):
        if tokens is not None:
            ctx.values.setdefault("user_ids", []).append((f"concurrent refresh {index}", tokens.user_id))
    bad = [r for r, t in zip(responses, results, strict=True) if t is None]
    if bad:
        statuses = ", ".join(str(r.status_code) for r in bad)
        raise fail(f"{len(bad)} of {count} concurrent refreshes failed (HTTP {statuses})", *bad[:3])
    return f"{count} concurrent refreshes succeeded"


@check("oauth.user_id_stable")
def user_id_stable(ctx: Context) -> str | None:
    """user_id is the same on every authorization and refresh, and not derived from the email."""
    seen: list[tuple[str, Any]] = ctx.values.get("user_ids", [])
    if len(seen) < 2:
        raise CheckSkipped("fewer than two token responses to compare")
    shown = [{"token response": label, "user_id": uid} for label, uid in seen]
    missing = [label for label, uid in seen if uid in (None, "")]
    if missing:
        raise CheckFailed(f"no user_id in the token response of: {', '.join(missing)}", shown)
    distinct = {str(uid) for _, uid in seen}
    if len(distinct) > 1:
        first = str(seen[0][1])
        changed = [f"{label} → {uid}" for label, uid in seen if str(uid) != first]
        raise CheckFailed(f"user_id changed: {seen[0][0]} → {first}; " + "; ".join(changed[:4]), shown)
    user_id = distinct.pop()
    email = ctx.settings.username.lower()
    local = email.split("@")[0]
    if email in user_id.lower() or (len(local) >= 3 and local in user_id.lower()):
        raise CheckFailed(f"user_id {user_id!r} is derived from the email address; it must be a permanent id", shown)
    return f"{len(seen)} token responses, one user_id"


@check("oauth.code_reuse_refused")
def code_reuse_refused(ctx: Context) -> str | None:
    """A second exchange of the same authorization code is refused."""
    ctx.need("code_a", "the first authorization failed; see oauth.state_echoed")
    browser: Browser = ctx.values.get("browser") or _browser(ctx)
    flow = browser.authorize(ctx.settings.authorize_path, _params(ctx, ctx.nonce()))
    code = _complete(ctx, flow, "authorization C")
    first = exchange(ctx, code)
    tokens = _tokens(first)
    if tokens is None:
        raise CheckSkipped(f"could not exchange a fresh code (HTTP {first.status_code}); see oauth.token_response")
    ctx.values["tokens_c"] = tokens
    second = exchange(ctx, code)
    if _tokens(second) is not None:
        raise fail("the same authorization code was exchanged twice, and tokens were issued both times",
                   first, second)
    if second.status_code not in TOKEN_ERROR_STATUSES:
        raise fail(f"replaying a code answered HTTP {second.status_code}, expected 400 invalid_grant", second)
    ctx.values["code_reuse_refused"] = True
    error = (json_body(second) or {}).get("error") if isinstance(json_body(second), dict) else None
    return None if error == "invalid_grant" else f"refused with error={error!r} (RFC 6749: invalid_grant)"


@check("oauth.code_reuse_revokes_tokens", required=False)
def code_reuse_revokes_tokens(ctx: Context) -> str | None:
    """After a code replay, the tokens issued from that code are revoked (RFC 6749 §4.1.2 SHOULD)."""
    tokens: Tokens = ctx.need("tokens_c")
    if not ctx.values.get("code_reuse_refused"):
        raise CheckSkipped("the replayed code was not refused; see oauth.code_reuse_refused")
    response = _api_status(ctx, tokens.access_token)
    if response.status_code == 200:
        raise fail("the access token issued from the replayed code still works", response)
    if response.status_code not in UNAUTHENTICATED_STATUSES:
        raise fail(f"unexpected HTTP {response.status_code} for a revoked token", response)
    return None


@check("oauth.wrong_client_secret")
def wrong_client_secret(ctx: Context) -> str | None:
    """The token endpoint refuses a wrong client secret."""
    tokens: Tokens = ctx.values.get("tokens_b") or ctx.need("tokens_a")
    if not tokens.refresh_token:
        raise CheckSkipped("no refresh token to try")
    response = refresh(ctx, tokens.refresh_token, client_secret=ctx.nonce("wrong-"))
    if _tokens(response) is not None:
        raise fail("tokens were issued to a client with the wrong secret", response)
    if response.status_code not in TOKEN_ERROR_STATUSES:
        raise fail(f"a wrong client secret answered HTTP {response.status_code}, expected 401 (or 400) "
                   "invalid_client", response)
    return None


def _probe_redirect(ctx: Context, redirect_uri: str) -> FlowResult:
    """Runs a whole authorization (signing in if asked) with a redirect URI that must be refused."""
    return _browser(ctx).authorize(ctx.settings.authorize_path, _params(ctx, ctx.nonce(), redirect_uri=redirect_uri))


def _refused_everywhere(ctx: Context, cases: list[tuple[str, str]]) -> str:
    broken = []
    for label, uri in cases:
        flow = _probe_redirect(ctx, uri)
        if flow.redirect and (_same_endpoint(flow.redirect, uri) or "code" in flow.params):
            broken.append((label, uri, flow))
    if broken:
        label, uri, flow = broken[0]
        names = ", ".join(f"{label} ({uri})" for label, uri, _ in broken)
        raise CheckFailed(f"the provider redirected to redirect URIs that are not registered: {names}",
                          evidence(flow.final))
    return f"{len(cases)} URI(s) refused with an error page"


@check("oauth.redirect_uri_unregistered")
def redirect_uri_unregistered(ctx: Context) -> str | None:
    """An unregistered redirect_uri gets an error page, never a redirect (not even after signing in)."""
    return _refused_everywhere(ctx, [("unregistered", UNREGISTERED_REDIRECT)])


def near_misses(uri: str) -> list[tuple[str, str]]:
    """Redirect URIs a prefix or sloppy match would take for the registered one."""
    parts = urlsplit(uri)
    host, port = parts.hostname or "", f":{parts.port}" if parts.port else ""
    other_scheme = "http" if parts.scheme == "https" else "https"
    return [
        ("longer path", uri + "x"),
        ("extra path segment", uri.rstrip("/") + "/evil"),
        ("added query", uri + ("&" if parts.query else "?") + f"next=https://{ATTACKER_HOST}/"),
        ("trailing slash", uri[:-1] if uri.endswith("/") else uri + "/"),
        ("host suffix", urlunsplit(parts._replace(netloc=f"{host}.{ATTACKER_HOST}{port}"))),
        ("userinfo", urlunsplit(parts._replace(netloc=f"{parts.netloc}@{ATTACKER_HOST}"))),
        ("other scheme", urlunsplit(parts._replace(scheme=other_scheme))),
    ]


@check("oauth.redirect_uri_near_miss")
def redirect_uri_near_miss(ctx: Context) -> str | None:
    """Near misses of the registered redirect_uri (longer path, extra query, host suffix, ...) are refused."""
    return _refused_everywhere(ctx, near_misses(ctx.settings.redirect_uri))


@check("oauth.bearer_required")
def bearer_required(ctx: Context) -> str | None:
    """The API refuses requests without a valid Bearer token."""
    cases = [
        ("no Authorization header", {}),
        ("an unknown Bearer token", bearer(ctx.nonce("certify-unknown-"))),
        ("an empty Bearer token", {"Authorization": "Bearer "}),
    ]
    notes = []
    for label, headers in cases:
        response = ctx.http.get(API_PROBE, headers=headers)
        if response.status_code not in UNAUTHENTICATED_STATUSES:
            raise fail(f"GET {API_PROBE} with {label} answered HTTP {response.status_code}, expected 401",
                       response)
        if response.status_code == 401 and "WWW-Authenticate" not in response.headers:
            notes.append(f"no WWW-Authenticate header with {label} (RFC 6750 §3)")
    return "; ".join(notes) or None


@check("oauth.legacy_authorize_path", profiles=(LEGACY,))
def legacy_authorize_path(ctx: Context) -> str | None:
    """The older guide's authorization page (GET /authorize) is served too."""
    flow = _browser(ctx).authorize(ctx.settings.legacy_authorize_path, _params(ctx, ctx.nonce()), login=False)
    if flow.pages[:1] != ["login"]:
        status = flow.final.status_code if flow.final is not None else "no answer"
        raise fail(f"GET {ctx.settings.legacy_authorize_path} did not show the login page (HTTP {status})",
                   flow.final)
    return None
