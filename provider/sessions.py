"""Flask's `session`, kept on the server (provider.services.browser_sessions).

Installed by the app factory; views use `flask.session` as usual. What differs from
Flask's signed cookie:
- the cookie holds only a random id; the contents never leave the server;
- `session.clear()` ends the server-side session and the next save starts one with
  a new id (signing in after clear() therefore never reuses an id a browser had
  before: no session fixation), and a cleared session that stays empty is simply
  gone (that is sign-out);
- a session ends after PROVIDER_SESSION_IDLE_MINUTES without a request, at
  PROVIDER_SESSION_MAX_HOURS, and when its account's password changes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from provider.clock import now
from provider.services import browser_sessions


class ServerSession(CallbackDict, SessionMixin):  # type: ignore[misc]
    def __init__(self, data: dict[str, Any] | None = None, session_id: str | None = None) -> None:
        def on_update(_: Any) -> None:
            self.modified = True

        super().__init__(data or {}, on_update)
        self.session_id = session_id
        self.new = session_id is None
        self.modified = False
        # Set by clear(): the old id is ended on save, whatever comes next.
        self.ended_id: str | None = None

    def clear(self) -> None:
        if self.session_id is not None:
            self.ended_id, self.session_id, self.new = self.session_id, None, True
        super().clear()


class ServerSessionInterface(SessionInterface):
    def __init__(self, policy: browser_sessions.Policy) -> None:
        self.policy = policy

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        session_id = request.cookies.get(self.get_cookie_name(app))
        if session_id:
            loaded = browser_sessions.load(session_id, self.policy)
            if loaded is not None:
                session = ServerSession(loaded.data, session_id)
                session.last_seen_at = loaded.last_seen_at  # type: ignore[attr-defined]
                return session
        return ServerSession()

    def save_session(self, app: Flask, session: ServerSession, response: Response) -> None:  # type: ignore[override]
        name = self.get_cookie_name(app)
        domain, path = self.get_cookie_domain(app), self.get_cookie_path(app)
        if session.ended_id is not None:
            browser_sessions.end(session.ended_id)
        if not session:
            if session.ended_id is not None or (session.session_id and session.modified):
                if session.session_id:
                    browser_sessions.end(session.session_id)
                response.delete_cookie(name, domain=domain, path=path)
            return
        response.vary.add("Cookie")
        if session.session_id is not None and not session.modified:
            last_seen = getattr(session, "last_seen_at", None)
            if last_seen is None or now() - last_seen >= browser_sessions.TOUCH_EVERY:
                browser_sessions.touch(session.session_id)
            return
        new = session.session_id is None
        session_id = session.session_id or browser_sessions.new_id()
        expires_at = browser_sessions.save(session_id, dict(session), self.policy, new=new)
        response.set_cookie(
            name,
            session_id,
            expires=expires_at,
            httponly=self.get_cookie_httponly(app),
            domain=domain,
            path=path,
            secure=self.get_cookie_secure(app),
            samesite=self.get_cookie_samesite(app),
        )


def init_app(app: Flask) -> None:
    app.session_interface = ServerSessionInterface(policy(app))


def policy(app: Flask) -> browser_sessions.Policy:
    return browser_sessions.Policy(
        idle=timedelta(minutes=float(app.config["PROVIDER_SESSION_IDLE_MINUTES"])),
        lifetime=timedelta(hours=float(app.config["PROVIDER_SESSION_MAX_HOURS"])),
    )
