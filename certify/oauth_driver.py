"""Drives an authorization page the way a browser would, without a browser.

GET the authorize URL, follow redirects that stay on the provider, fill the
login form (every hidden field kept: CSRF tokens), submit the consent form's
approve (or deny) button, and stop at the first redirect that leaves the
provider: that Location is captured, never fetched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import requests

if TYPE_CHECKING:
    from certify.http import Http

APPROVE = re.compile(r"approve|allow|authori[sz]e|accept|grant|consent|confirm|yes|continue", re.I)
DENY = re.compile(r"deny|reject|decline|cancel|refuse|\bno\b", re.I)
USERNAME_NAMES = re.compile(r"user|email|login|account|identifier", re.I)
MAX_STEPS = 12


@dataclass
class Form:
    action: str
    method: str
    fields: list[tuple[str, str, str]] = field(default_factory=list)  # (type, name, value)
    buttons: list[tuple[str, str, str]] = field(default_factory=list)  # (name, value, label)

    @property
    def has_password(self) -> bool:
        return any(kind == "password" for kind, _, _ in self.fields)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._button: list[str] | None = None  # [name, value, label] of an open <button>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append(Form(attr.get("action", ""), (attr.get("method") or "get").lower()))
            return
        if not self.forms:
            return
        form = self.forms[-1]
        if tag == "input":
            kind = attr.get("type", "text").lower()
            if kind in ("submit", "image"):
                form.buttons.append((attr.get("name", ""), attr.get("value", ""), attr.get("value", "")))
            elif kind in ("checkbox", "radio"):
                if "checked" in attr:
                    form.fields.append((kind, attr.get("name", ""), attr.get("value", "on")))
            elif kind != "button":
                form.fields.append((kind, attr.get("name", ""), attr.get("value", "")))
        elif tag == "button" and attr.get("type", "submit").lower() == "submit":
            self._button = [attr.get("name", ""), attr.get("value", ""), ""]

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button[2] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "button" and self._button is not None and self.forms:
            name, value, label = self._button
            self.forms[-1].buttons.append((name, value, label.strip()))
            self._button = None


def parse_forms(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def _button_text(button: tuple[str, str, str]) -> str:
    return " ".join(button)


def choose_consent(forms: list[Form], approve: bool) -> tuple[Form, tuple[str, str, str] | None] | None:
    """The form and button that approve (or deny). Either one form with two buttons,
    or one form per decision."""
    wanted, other = (APPROVE, DENY) if approve else (DENY, APPROVE)
    for form in forms:
        for button in form.buttons:
            text = _button_text(button)
            if wanted.search(text) and not (approve and DENY.search(button[1] or button[2])):
                return form, button
    for form in forms:
        if not form.buttons and wanted.search(form.action) and not other.search(form.action):
            return form, None
    return None


def fill(form: Form, username: str, password: str) -> list[tuple[str, str]]:
    """The login form's fields: every given value kept, username and password filled in."""
    data: list[tuple[str, str]] = []
    username_done = False
    for kind, name, value in form.fields:
        if not name:
            continue
        if kind == "password":
            value = password
        elif not username_done and kind in ("text", "email") and (
            USERNAME_NAMES.search(name) or not value
        ):
            value, username_done = username, True
        data.append((name, value))
    return data


def submit_data(form: Form, button: tuple[str, str, str] | None, data: list[tuple[str, str]]) -> list[tuple[str, str]]:
    if button and button[0]:
        data = [*data, (button[0], button[1])]
    return data


@dataclass
class FlowResult:
    """Where an authorization attempt ended."""

    redirect: str | None = None  # the Location that left the provider (never fetched)
    pages: list[str] = field(default_factory=list)  # "login", "consent", "other" in order seen
    final: requests.Response | None = None
    error: str | None = None

    @property
    def params(self) -> dict[str, str]:
        if not self.redirect:
            return {}
        parts = urlsplit(self.redirect)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        fragment = {k: v[0] for k, v in parse_qs(parts.fragment, keep_blank_values=True).items()}
        return {**fragment, **query}

    @property
    def code(self) -> str | None:
        return self.params.get("code")


class Browser:
    """One browser profile (its own cookie jar) signing in at one provider."""

    def __init__(self, http: Http, username: str, password: str) -> None:
        self.http = http
        self.username = username
        self.password = password
        self.session = http.new_session(cookies=True)
        origin = urlsplit(http.base_url)
        self.origin = (origin.scheme, origin.netloc)

    def _leaves_provider(self, url: str) -> bool:
        parts = urlsplit(url)
        return (parts.scheme, parts.netloc) != self.origin

    def authorize(
        self, path: str, params: dict[str, str], *, approve: bool = True, login: bool = True
    ) -> FlowResult:
        """Runs the authorization page until it redirects away from the provider."""
        result = FlowResult()
        url = self.http.url(path) + "?" + urlencode(params)
        method, data = "GET", None
        logins = 0
        for _ in range(MAX_STEPS):
            headers = {"Origin": "{}://{}".format(*self.origin), "Referer": url} if method == "POST" else {}
            response = self.http.request(method, url, session=self.session, data=data, headers=headers)
            result.final = response
            if response.is_redirect or response.status_code in (301, 302, 303, 307, 308):
                location = response.headers.get("Location", "")
                target = urljoin(response.url, location)
                if self._leaves_provider(target):
                    result.redirect = target
                    return result
                # 307/308 repeat a POST; everything else becomes a GET.
                if response.status_code not in (307, 308):
                    method, data = "GET", None
                url = target
                continue
            forms = parse_forms(response.text) if "html" in response.headers.get("Content-Type", "") else []
            login_form = next((form for form in forms if form.has_password), None)
            if login_form is not None:
                result.pages.append("login")
                if not login:
                    result.error = "stopped at the login page"
                    return result
                logins += 1
                if logins > 2:
                    result.error = "the login form came back after submitting the credentials twice"
                    return result
                button = next((b for b in login_form.buttons if not DENY.search(_button_text(b))), None)
                method = "POST" if login_form.method == "post" else "GET"
                data = submit_data(login_form, button, fill(login_form, self.username, self.password))
                url = urljoin(response.url, login_form.action or response.url)
                if method == "GET":
                    url, data = url.split("?")[0] + "?" + urlencode(data), None
                continue
            chosen = choose_consent(forms, approve)
            if chosen is not None:
                result.pages.append("consent")
                form, button = chosen
                method = "POST" if form.method == "post" else "GET"
                data = submit_data(form, button, [(n, v) for _, n, v in form.fields if n])
                url = urljoin(response.url, form.action or response.url)
                if method == "GET":
                    url, data = url.split("?")[0] + "?" + urlencode(data), None
                continue
            result.pages.append("other")
            result.error = f"the provider answered HTTP {response.status_code} with no form to continue"
            return result
        result.error = f"no redirect away from the provider after {MAX_STEPS} steps"
        return result
