"""HTTP with a memory: every exchange is recorded (secrets redacted) to serve as evidence."""

from __future__ import annotations

import http.cookiejar
import json
import re
import threading
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

# Field names whose values never appear in evidence or reports.
SECRET_FIELDS = frozenset(
    {
        "password", "client_secret", "access_token", "refresh_token", "id_token", "code",
        "secret", "csrf_token", "token", "device_key", "pin",
    }
)
SHOWN_REQUEST_HEADERS = ("content-type", "authorization", "idempotency-key")
SHOWN_RESPONSE_HEADERS = (
    "content-type", "location", "www-authenticate", "retry-after", "cache-control",
)
EXCERPT_CHARS = 400


def _mask(value: Any) -> str:
    return f"***(len={len(str(value))})" if value not in (None, "") else str(value)


# A secret parameter inside any text: a URL quoted on an HTML page, a log line.
_SECRET_PARAM = re.compile(
    r"(?i)\b(" + "|".join(sorted(SECRET_FIELDS)) + r")=([^&\s\"'<>]+)"
)


def redact_params_in_text(text: str) -> str:
    return _SECRET_PARAM.sub(lambda m: f"{m.group(1)}={_mask(m.group(2))}", text)


def redact_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: _mask(item) if key.lower() in SECRET_FIELDS and not isinstance(item, dict | list)
            else redact_json(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact_json(item) for item in value]
    return value


def redact_pairs(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, _mask(v) if k.lower() in SECRET_FIELDS else v) for k, v in pairs]


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = urlencode(redact_pairs(parse_qsl(parts.query, keep_blank_values=True)), safe="*()=")
    return urlunsplit(parts._replace(query=query))


def redact_header(name: str, value: str) -> str:
    if name.lower() == "authorization":
        scheme, _, credential = value.partition(" ")
        return f"{scheme} {_mask(credential)}" if credential else _mask(value)
    if name.lower() == "location":
        return redact_url(value)
    return value


_HIDDEN_INPUT = re.compile(r"(value=\")[^\"]{16,}(\")")


def redact_text(text: str, content_type: str = "") -> str:
    if "json" in content_type or text[:1] in "{[":
        try:
            return json.dumps(redact_json(json.loads(text)))
        except ValueError:
            pass
    if "x-www-form-urlencoded" in content_type:
        return urlencode(redact_pairs(parse_qsl(text, keep_blank_values=True)), safe="*()=")
    if "html" in content_type or text.lstrip()[:1] == "<":
        return html_text(text)
    return redact_params_in_text(_HIDDEN_INPUT.sub(r"\1***\2", text))


class _TextParser(HTMLParser):
    """The words a person would read on the page, and its form fields by name (values hidden)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head"):
            self._skip += 1
        elif tag in ("input", "button", "form"):
            attr = dict(attrs)
            shown = " ".join(f"{k}={attr[k]}" for k in ("type", "name", "action", "method") if attr.get(k))
            self.parts.append(f"[{tag} {shown}]")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.parts.append(" ".join(data.split()))


def html_text(html: str) -> str:
    parser = _TextParser()
    parser.feed(html)
    return "HTML: " + redact_params_in_text(" ".join(parser.parts))


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more chars]"


def describe_exchange(response: requests.Response) -> dict[str, Any]:
    """The evidence for one request/response pair, secrets redacted."""
    request = response.request
    body = request.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    request_type = request.headers.get("Content-Type", "")
    return {
        "request": {
            "method": request.method,
            "url": redact_url(request.url or ""),
            "headers": {
                name: redact_header(name, request.headers[name])
                for name in request.headers
                if name.lower() in SHOWN_REQUEST_HEADERS
            },
            **({"body": excerpt(redact_text(body, request_type))} if body else {}),
        },
        "response": {
            "status": response.status_code,
            "headers": {
                name: redact_header(name, response.headers[name])
                for name in response.headers
                if name.lower() in SHOWN_RESPONSE_HEADERS
            },
            "body": excerpt(redact_text(response.text, response.headers.get("Content-Type", ""))),
        },
    }


# A rate-limited call is retried this often, when the provider asks for at most this long a wait.
RATE_LIMIT_RETRIES = 2
RATE_LIMIT_WAIT = 30.0


def _retry_after(response: requests.Response) -> float | None:
    """Seconds to wait before retrying a 429, or None when it is not one the kit waits out."""
    if response.status_code != 429:
        return None
    try:
        wait = float(response.headers.get("Retry-After", "1"))
    except ValueError:
        return None
    return wait if 0 <= wait <= RATE_LIMIT_WAIT else None


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """API calls carry bearer tokens only: a cookie must never authenticate them."""

    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False

    def return_ok(self, cookie: Any, request: Any) -> bool:
        return False


@dataclass
class Http:
    """One provider's base URL, the exchanges made against it, and a cookie-less API session."""

    base_url: str
    timeout: float = 20.0
    verify_tls: bool = True
    exchanges: list[requests.Response] = field(default_factory=list)
    rate_limited: int = 0  # 429 answers waited out
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self.api = self.new_session(cookies=False)

    def new_session(self, *, cookies: bool = True) -> requests.Session:
        session = requests.Session()
        session.headers["User-Agent"] = "provider-certify/0.1 (+seam-provider-contract)"
        session.verify = self.verify_tls
        if not cookies:
            session.cookies.set_policy(_NoCookies())
        return session

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.base_url + path

    def request(
        self, method: str, path: str, *, session: requests.Session | None = None, **kwargs: Any
    ) -> requests.Response:
        """One call; a 429 is waited out (Retry-After, at most RATE_LIMIT_WAIT) and retried, as Seam does."""
        kwargs.setdefault("timeout", self.timeout)
        kwargs.setdefault("allow_redirects", False)
        for _ in range(RATE_LIMIT_RETRIES + 1):
            response = (session or self.api).request(method, self.url(path), **kwargs)
            with self._lock:
                self.exchanges.append(response)
            wait = _retry_after(response)
            if wait is None:
                break
            with self._lock:
                self.rate_limited += 1
            time.sleep(wait)
        return response

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def take_exchanges(self) -> list[requests.Response]:
        with self._lock:
            taken, self.exchanges = self.exchanges, []
        return taken


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def json_body(response: requests.Response) -> Any:
    """The decoded JSON body, or None when the body is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None
