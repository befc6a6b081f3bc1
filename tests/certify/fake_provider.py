"""ONE compact reference provider that follows the Seam provider contract, with switches.

Each switch in BREAKS breaks exactly one rule; the value is the set of checks that must
fail because of it (usually one; the PIN length rule has a short and a long side). The
fake is in memory, serves under a base path, completes actions and codes instantly,
and delivers signed webhooks from one worker thread (per-device order kept, 500s retried
after RETRY_DELAY).
"""

from __future__ import annotations

import base64
import json
import queue
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import requests
from flask import Flask, abort, jsonify, redirect, request, session
from standardwebhooks import Webhook
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import make_server

BASE_PATH = "/cloud"
CLIENT_ID, CLIENT_SECRET = "seam", "seamsecret"
REDIRECT_URIS = ("https://connect.getseam.com/oauth/callback", "http://localhost:3020/oauth/callback")
USERNAME, PASSWORD = "jane@example.com", "1234"
RETRY_DELAY = 0.2
#: A code programmed at the fake lock's keypad, not through the API: an unmanaged code.
UNMANAGED_PIN = "97531"
EVENT_TYPES = ("lock.action_completed", "access_code.created", "access_code.updated", "access_code.deleted")

BREAKS: dict[str, set[str]] = {
    "health_wrong": {"health.ok"},
    "state_dropped": {"oauth.state_echoed"},
    "token_expires_in_string": {"oauth.token_response"},
    "prompt_login_ignored": {"oauth.prompt_login"},
    "deny_ignored": {"oauth.deny_redirects_access_denied"},
    "refresh_revokes_old_tokens": {"oauth.refresh_keeps_old_tokens"},
    "refresh_token_single_use": {"oauth.concurrent_refresh"},
    "user_id_changes_on_refresh": {"oauth.user_id_stable"},
    "code_reuse_accepted": {"oauth.code_reuse_refused"},
    "client_secret_unchecked": {"oauth.wrong_client_secret"},
    "redirect_uri_unchecked": {"oauth.redirect_uri_unregistered", "oauth.redirect_uri_near_miss"},
    "redirect_uri_prefix_matched": {"oauth.redirect_uri_near_miss"},
    "bearer_not_required": {"oauth.bearer_required"},
    "legacy_authorize_missing": {"oauth.legacy_authorize_path"},
    "legacy_lock_id_missing": {"locks.legacy_shape"},
    "battery_as_word": {"locks.device_fields"},
    "unknown_lock_500": {"locks.unknown_ids_404"},
    "legacy_unlock_wrong_body": {"actions.legacy_unlock"},
    "action_never_completes": {"actions.pending_then_final"},
    "custom_id_ignored": {"actions.custom_id_idempotent"},
    "pin_length_unchecked": {"access_codes.rule_short_pin", "access_codes.rule_long_pin"},
    "pin_format_unchecked": {"access_codes.rule_non_digit_pin"},
    "time_bound_half_accepted": {"access_codes.rule_missing_end"},
    "past_start_accepted": {"access_codes.rule_start_in_past"},
    "pin_conflict_unchecked": {"access_codes.rule_pin_conflict"},
    "code_never_applied": {"access_codes.becomes_active"},
    "patch_ignored": {"access_codes.patch", "access_codes.extend_started"},  # nothing can be extended either
    "delete_keeps_code": {"access_codes.delete", "access_codes.cleanup"},
    "started_code_not_extendable": {"access_codes.extend_started"},
    "unmanaged_hidden": {"access_codes.unmanaged_listed"},
    "unmanaged_wiped": {"access_codes.unmanaged_survive"},
    "offline_code_pending": {"offline_codes.create", "offline_codes.one_time"},
    "offline_patch_accepted": {"offline_codes.patch_refused"},
    "webhook_unsigned": {"webhooks.signature"},
    "webhook_signed_with_another_secret": {"webhooks.signature"},
    "webhook_no_retry": {"webhooks.retry"},
    "event_fields_only_in_data": {"webhooks.flat_event_fields"},
    "unknown_event_type_refused": {"webhooks.unknown_event_types"},
    # Warning-level: the run still passes.
    "code_reuse_keeps_tokens": set(),
    "device_reference_missing": set(),
}


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _error(status: int, code: str, message: str) -> Any:
    body = {"error_code": code, "message": message, "error_id": code, "error_message": message}
    return jsonify(body), status


class FakeProvider:
    def __init__(
        self, breaks: set[str] | frozenset[str] = frozenset(), *, legacy_only: bool = False, action_get: bool = True,
        rate_limit_next_create: bool = False,
    ) -> None:
        unknown = set(breaks) - set(BREAKS)
        assert not unknown, f"unknown switches {unknown}"
        self.breaks = set(breaks)
        self.legacy_only = legacy_only  # only the older guide's endpoints (no /actions)
        self.action_get = action_get  # GET /locks/<id>/actions/<id>; without it actions finish by themselves
        self.rate_limit_next_create = rate_limit_next_create  # answer the next code create with a 429
        self.lock = threading.RLock()
        self.user_id = str(uuid.uuid4())
        self.codes: dict[str, dict[str, Any]] = {}  # authorization codes
        self.access: dict[str, dict[str, Any]] = {}
        self.refresh: dict[str, dict[str, Any]] = {}
        self.issued: list[str] = []  # every secret the fake handed out (tests look for leaks)
        lock_id = str(uuid.uuid4())
        self.locks = {lock_id: {"lock_state": "locked"}}
        self.lock_id = lock_id
        self.access_codes: dict[str, dict[str, Any]] = {}
        unmanaged_id = str(uuid.uuid4())
        self.access_codes[unmanaged_id] = {
            "access_code_id": unmanaged_id, "lock_id": lock_id, "owner_id": self.user_id, "name": None,
            "code": UNMANAGED_PIN, "starts_at": None, "ends_at": None, "status": "active", "is_managed": False}
        self.actions: dict[str, dict[str, Any]] = {}
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.stopping = threading.Event()
        self.outbox: queue.Queue[tuple[dict[str, Any], dict[str, Any]] | None] = queue.Queue()
        self.app = self._app()

    def broken(self, name: str) -> bool:
        return name in self.breaks

    # -- events --------------------------------------------------------------------------
    def emit(self, event_type: str, data: dict[str, Any]) -> None:
        data = {"lock_id": self.lock_id, **data}
        payload = {"event_id": str(uuid.uuid4()), "event_type": event_type, "device_id": self.lock_id,
                   "user_id": self.user_id, "timestamp": _iso(_now()), "data": data}
        if not self.broken("event_fields_only_in_data"):
            payload = {**data, **payload}  # Seam's examples read the fields at the top level
        for hook in list(self.webhooks.values()):
            if event_type in hook["events"]:
                self.outbox.put((hook, payload))

    def deliver_forever(self) -> None:
        while (item := self.outbox.get()) is not None:
            hook, payload = item
            body = json.dumps(payload)
            msg_id = "msg_" + payload["event_id"]
            signing_secret = hook["secret"]
            if self.broken("webhook_signed_with_another_secret"):
                signing_secret = "whsec_" + base64.b64encode(b"not the secret the kit was given").decode()
            for _ in range(5):
                if self.stopping.is_set() or hook["webhook_id"] not in self.webhooks:
                    break  # shutting down, or the webhook was deleted: nobody to deliver to
                headers = {"Content-Type": "application/json"}
                if not self.broken("webhook_unsigned"):
                    stamp = _now()
                    headers |= {"webhook-id": msg_id, "webhook-timestamp": str(int(stamp.timestamp())),
                                "webhook-signature": Webhook(signing_secret).sign(msg_id, stamp, body)}
                try:
                    status = requests.post(hook["url"], data=body, headers=headers, timeout=5).status_code
                except requests.RequestException:
                    status = 0
                if 200 <= status < 300 or self.broken("webhook_no_retry"):
                    break
                time.sleep(RETRY_DELAY)

    # -- OAuth ----------------------------------------------------------------------------
    def _issue(self, family: str, *, refresh_token: str | None = None, from_refresh: bool = False) -> dict[str, Any]:
        access = secrets.token_urlsafe(24)
        refresh_token = refresh_token or secrets.token_urlsafe(24)
        self.access[access] = {"family": family, "revoked": False}
        self.refresh.setdefault(refresh_token, {"family": family, "used": False})
        self.issued += [access, refresh_token]
        user_id = str(uuid.uuid4()) if from_refresh and self.broken("user_id_changes_on_refresh") else self.user_id
        return {"access_token": access, "token_type": "Bearer",
                "expires_in": "3600" if self.broken("token_expires_in_string") else 3600,
                "refresh_token": refresh_token, "user_id": user_id, "scope": "locks.read locks.write"}

    def _redirect_ok(self, uri: str) -> bool:
        if self.broken("redirect_uri_prefix_matched"):
            return any(uri.startswith(r) for r in REDIRECT_URIS)
        return uri in REDIRECT_URIS

    def _app(self) -> Flask:  # one compact fake, read top to bottom
        app = Flask(__name__)
        app.secret_key = secrets.token_hex(16)
        fake = self

        def csrf_field() -> str:
            session.setdefault("csrf", secrets.token_urlsafe(16))
            return f'<input type="hidden" name="csrf_token" value="{session["csrf"]}">'

        def check_csrf() -> None:
            if not request.form.get("csrf_token") or request.form["csrf_token"] != session.get("csrf"):
                abort(400, "CSRF token missing or wrong")

        def authorize() -> Any:
            args = request.args
            unchecked = fake.broken("redirect_uri_unchecked")
            if args.get("client_id") != CLIENT_ID or not (unchecked or fake._redirect_ok(args.get("redirect_uri", ""))):
                return "<h1>Unknown client or redirect URI</h1>", 400
            session["auth"] = dict(args)
            if args.get("prompt") == "login" and not fake.broken("prompt_login_ignored"):
                session.pop("user", None)
            return redirect(BASE_PATH + ("/oauth/consent" if session.get("user") else "/oauth/login"), 303)

        app.add_url_rule("/oauth/authorize", "authorize", authorize)
        if not fake.broken("legacy_authorize_missing"):
            app.add_url_rule("/authorize", "legacy_authorize", authorize)

        @app.route("/oauth/login", methods=["GET", "POST"])
        def login() -> Any:
            if request.method == "POST":
                check_csrf()
                if (request.form.get("email"), request.form.get("password")) == (USERNAME, PASSWORD):
                    session["user"] = fake.user_id
                    return redirect(BASE_PATH + "/oauth/consent", 303)
            return (f'<html><form method="post" action="login">{csrf_field()}<input type="email" name="email">'
                    '<input type="password" name="password"><button type="submit">Sign in</button></form></html>')

        @app.route("/oauth/consent", methods=["GET", "POST"])
        def consent() -> Any:
            auth = session.get("auth")
            if not session.get("user") or not auth:
                return redirect(BASE_PATH + "/oauth/login", 303)
            if request.method == "GET":
                return (f'<html><p>Seam will be able to lock and unlock.</p><form method="post">{csrf_field()}'
                        '<button name="decision" value="approve">Allow</button>'
                        '<button name="decision" value="deny">Deny</button></form></html>')
            check_csrf()
            uri = auth["redirect_uri"]
            params = {"state": auth.get("state")}
            if request.form.get("decision") == "deny" and not fake.broken("deny_ignored"):
                return redirect(uri + "?" + urlencode({"error": "access_denied", **params}), 303)
            if fake.broken("state_dropped"):
                params = {}
            code = secrets.token_urlsafe(24)
            fake.codes[code] = {"redirect_uri": uri, "used": False, "family": str(uuid.uuid4())}
            fake.issued.append(code)
            return redirect(uri + "?" + urlencode({"code": code, **params}), 303)

        @app.post("/oauth/token")
        def token() -> Any:
            form = request.form
            if form.get("client_id") != CLIENT_ID or (
                form.get("client_secret") != CLIENT_SECRET and not fake.broken("client_secret_unchecked")
            ):
                return jsonify(error="invalid_client"), 401
            with fake.lock:
                if form.get("grant_type") == "authorization_code":
                    grant = fake.codes.get(form.get("code", ""))
                    if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
                        return jsonify(error="invalid_grant"), 400
                    if grant["used"] and not fake.broken("code_reuse_accepted"):
                        if not fake.broken("code_reuse_keeps_tokens"):
                            for record in fake.access.values():
                                record["revoked"] |= record["family"] == grant["family"]
                        return jsonify(error="invalid_grant"), 400
                    grant["used"] = True
                    return jsonify(fake._issue(grant["family"]))
                if form.get("grant_type") == "refresh_token":
                    rt = form.get("refresh_token", "")
                    record = fake.refresh.get(rt)
                    if record is None or (record["used"] and fake.broken("refresh_token_single_use")):
                        return jsonify(error="invalid_grant"), 400
                    record["used"] = True
                    if fake.broken("refresh_revokes_old_tokens"):
                        for access in fake.access.values():
                            access["revoked"] |= access["family"] == record["family"]
                    return jsonify(fake._issue(record["family"], refresh_token=rt, from_refresh=True))
            return jsonify(error="unsupported_grant_type"), 400

        # -- API ----------------------------------------------------------------------
        def owner() -> None:
            header = request.headers.get("Authorization", "")
            if not header and fake.broken("bearer_not_required"):
                return
            record = fake.access.get(header.removeprefix("Bearer ").strip()) if header.startswith("Bearer ") else None
            if record is None or record["revoked"]:
                abort(401)

        @app.errorhandler(401)
        def unauthorized(_: Any) -> Any:
            response, status = _error(401, "UNAUTHORIZED", "A valid Bearer token is required.")
            response.headers["WWW-Authenticate"] = 'Bearer realm="locks"'
            return response, status

        @app.errorhandler(404)
        def not_found(_: Any) -> Any:
            return _error(404, "NOT_FOUND", "No such resource.")

        @app.get("/health")
        def health() -> Any:
            return jsonify(ok="yes" if fake.broken("health_wrong") else True)

        def lock_json(lock_id: str) -> dict[str, Any]:
            body = {"lock_id": lock_id, "device_id": lock_id, "name": "Front door", "model": "HALO-01",
                    "address": "1 Main St", "device_type": "smart_lock", "device_model": "HALO-01",
                    "online": True, "battery_level": "good" if fake.broken("battery_as_word") else 65,
                    "signal_quality": 80, "location": {"latitude": 37.77, "longitude": -122.42},
                    "timezone": "America/Los_Angeles", "bridge_id": "bridge-1",
                    "lock_state": fake.locks[lock_id]["lock_state"], "door_state": "closed",
                    "device_time": _iso(_now()), "updated_at": _iso(_now()),
                    "can_program_offline_access_codes": True}
            if not fake.broken("device_reference_missing"):
                body.update(manufacturer="Halo Locks", supported_code_lengths=[4, 5, 6, 7, 8],
                            max_active_codes_supported=30, can_program_online_access_codes=True,
                            door_open=False, auto_lock_enabled=None)
            if fake.broken("legacy_lock_id_missing"):
                del body["lock_id"]
            return body

        def find_lock(lock_id: str) -> None:
            owner()
            if lock_id not in fake.locks:
                abort(500 if fake.broken("unknown_lock_500") else 404)

        @app.get("/locks")
        def locks() -> Any:
            owner()
            return jsonify(locks=[lock_json(i) for i in fake.locks])

        @app.get("/locks/<lock_id>")
        def one_lock(lock_id: str) -> Any:
            find_lock(lock_id)
            return jsonify(lock_json(lock_id))

        @app.post("/locks/<lock_id>/<any(lock, unlock):verb>")
        def legacy_action(lock_id: str, verb: str) -> Any:
            find_lock(lock_id)
            fake.locks[lock_id]["lock_state"] = verb + "ed"
            return jsonify(status="ok") if fake.broken("legacy_unlock_wrong_body") else jsonify(ok=True)

        @app.post("/locks/<lock_id>/actions")
        def post_action(lock_id: str) -> Any:
            find_lock(lock_id)
            if fake.legacy_only:
                abort(404)
            body = request.get_json()
            custom_id = body.get("custom_id")
            with fake.lock:
                for action in fake.actions.values():
                    if custom_id and action["custom_id"] == custom_id and not fake.broken("custom_id_ignored"):
                        return jsonify(action)
                action = {"action_id": str(uuid.uuid4()), "custom_id": custom_id, "status": "pending",
                          "lock_id": lock_id, "action": body["action"]}
                fake.actions[action["action_id"]] = action
            ack = dict(action)
            if not fake.action_get:
                complete(action)
            return jsonify(ack), 201

        def complete(action: dict[str, Any]) -> None:
            if action["status"] == "pending" and not fake.broken("action_never_completes"):
                action["status"] = "success"
                fake.locks[action["lock_id"]]["lock_state"] = action["action"] + "ed"
                fake.emit("lock.action_completed", {"action_id": action["action_id"], "custom_id": action["custom_id"],
                                                    "action": action["action"], "status": "success",
                                                    "performed_via": "remote_api"})

        @app.get("/locks/<lock_id>/actions/<action_id>")
        def get_action(lock_id: str, action_id: str) -> Any:
            find_lock(lock_id)
            if not fake.action_get:
                abort(404)
            action = fake.actions.get(action_id) or abort(404)
            complete(action)
            return jsonify(action)

        def code_error(body: dict[str, Any], lock_id: str, exclude: str | None = None,
                       stored_start: str | None = None) -> Any:
            pin = str(body.get("code", ""))
            if not pin.isdigit() and not fake.broken("pin_format_unchecked") and 4 <= len(pin) <= 8:
                return _error(400, "INVALID_CODE_FORMAT", "digits only")
            if not 4 <= len(pin) <= 8 and not fake.broken("pin_length_unchecked"):
                return _error(400, "INVALID_CODE_LENGTH", "4 to 8 digits")
            starts, ends = body.get("starts_at"), body.get("ends_at")
            if (starts is None) != (ends is None) and not fake.broken("time_bound_half_accepted"):
                return _error(400, "TIME_BOUND_REQUIRES_BOTH", "both or neither")
            if starts and ends:
                new_start = stored_start is None or _parse(starts) != _parse(stored_start)
                if (new_start or fake.broken("started_code_not_extendable")) and _parse(starts) < _now() \
                        and not fake.broken("past_start_accepted"):
                    return _error(400, "STARTS_AT_IN_PAST", "starts_at must be in the future")
                if _parse(ends) <= _parse(starts):
                    return _error(400, "ENDS_AT_BEFORE_STARTS_AT", "ends_at after starts_at")
            taken = {c["code"] for c in fake.access_codes.values() if c["lock_id"] == lock_id
                     and c["access_code_id"] != exclude}
            if pin in taken and not fake.broken("pin_conflict_unchecked"):
                return _error(409, "PIN_CONFLICT", "PIN already in use")
            return None

        @app.route("/locks/<lock_id>/access_codes", methods=["GET", "POST"])
        def lock_codes(lock_id: str) -> Any:
            find_lock(lock_id)
            if request.method == "GET":
                return jsonify(access_codes=[c for c in fake.access_codes.values() if c["lock_id"] == lock_id
                                             and (c["is_managed"] or not fake.broken("unmanaged_hidden"))])
            if fake.rate_limit_next_create:
                fake.rate_limit_next_create = False
                response, status = _error(429, "RATE_LIMITED", "Too many code changes on this lock.")
                response.headers["Retry-After"] = "0"
                return response, status
            body = request.get_json()
            if body.get("is_offline_access_code"):
                return offline_code(lock_id, body)
            with fake.lock:
                if (error := code_error(body, lock_id)) is not None:
                    return error
                code = {"access_code_id": str(uuid.uuid4()), "lock_id": lock_id, "owner_id": fake.user_id,
                        "name": body.get("name"), "code": str(body["code"]), "starts_at": body.get("starts_at"),
                        "ends_at": body.get("ends_at"), "status": "pending", "is_managed": True}
                fake.access_codes[code["access_code_id"]] = code
            ack = dict(code)
            if not fake.broken("code_never_applied"):
                code["status"] = "active"
                if fake.broken("unmanaged_wiped"):  # the old reconciliation: the cloud's table, nothing else
                    for other in [c for c in fake.access_codes.values() if not c["is_managed"]]:
                        del fake.access_codes[other["access_code_id"]]
                fake.emit("access_code.created", {"access_code_id": code["access_code_id"], "code": code["code"],
                                                  "status": "success"})
            return jsonify(ack), 201

        def offline_code(lock_id: str, body: dict[str, Any]) -> Any:
            """An offline code: a derived PIN (here: random), set at once, its window in whole hours."""
            start = _parse(body["starts_at"]).replace(minute=0, second=0, microsecond=0)
            end = start + timedelta(hours=24) if body.get("is_one_time_use") else _parse(body["ends_at"])
            code = {"access_code_id": str(uuid.uuid4()), "lock_id": lock_id, "owner_id": fake.user_id,
                    "name": body.get("name"), "code": f"{uuid.uuid4().int % 10**10:010d}",
                    "starts_at": _iso(start), "ends_at": _iso(end), "is_offline_access_code": True,
                    "status": "pending" if fake.broken("offline_code_pending") else "set"}
            fake.access_codes[code["access_code_id"]] = code
            fake.emit("access_code.created", {"access_code_id": code["access_code_id"], "code": code["code"],
                                              "status": "success"})
            return jsonify(code), 201

        @app.get("/access_codes")
        def legacy_codes() -> Any:
            owner()
            lock_id = request.args.get("lock_id")
            return jsonify(access_codes=[c for c in fake.access_codes.values() if c["lock_id"] == lock_id])

        @app.route("/access_codes/<code_id>", methods=["GET", "PATCH", "DELETE"])
        def one_code(code_id: str) -> Any:
            owner()
            code = fake.access_codes.get(code_id) or abort(404)
            if request.method == "PATCH" and code.get("is_offline_access_code"):
                if fake.broken("offline_patch_accepted"):
                    code.update(request.get_json())
                    return jsonify(code)
                return _error(409, "OFFLINE_ACCESS_CODE_IMMUTABLE", "offline codes cannot be changed")
            if request.method == "PATCH":
                body = request.get_json()
                if not code["is_managed"]:
                    return _error(409, "ACCESS_CODE_UNMANAGED", "convert it first")
                merged = {**code, **body}
                if (error := code_error(merged, code["lock_id"], exclude=code_id,
                                        stored_start=code["starts_at"])) is not None:
                    return error
                if not fake.broken("patch_ignored"):
                    code.update({k: body[k] for k in ("code", "name", "starts_at", "ends_at") if k in body})
                fake.emit("access_code.updated", {"access_code_id": code_id, "code": code["code"], "status": "success"})
                return jsonify({**code, "status": "pending"})
            if request.method == "DELETE":
                if not fake.broken("delete_keeps_code"):
                    del fake.access_codes[code_id]
                    fake.emit("access_code.deleted", {"access_code_id": code_id, "status": "success"})
                return jsonify(access_code_id=code_id, status="pending")
            return jsonify(code)

        @app.route("/webhooks", methods=["POST"])
        def webhooks() -> Any:
            auth = request.authorization
            if auth is None or (auth.username, auth.password) != (CLIENT_ID, CLIENT_SECRET):
                abort(401)
            body = request.get_json()
            if fake.broken("unknown_event_type_refused") and any(t not in EVENT_TYPES for t in body["events"]):
                return _error(400, "INVALID_REQUEST", "unknown event type")
            hook = {"webhook_id": str(uuid.uuid4()), "url": body["url"], "events": body["events"],
                    "secret": "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode(), "status": "active"}
            fake.webhooks[hook["webhook_id"]] = hook
            return jsonify({k: hook[k] for k in ("webhook_id", "status", "secret")}), 201

        @app.delete("/webhooks/<webhook_id>")
        def delete_webhook(webhook_id: str) -> Any:
            auth = request.authorization
            if auth is None or (auth.username, auth.password) != (CLIENT_ID, CLIENT_SECRET):
                abort(401)
            fake.webhooks.pop(webhook_id, None) or abort(404)
            return jsonify(ok=True)

        return app

    # -- serving -------------------------------------------------------------------------
    @contextmanager
    def serve(self) -> Iterator[str]:
        """Serves the fake under BASE_PATH on a free port, in threads; yields the base URL."""
        root = Flask("root")
        server = make_server("127.0.0.1", 0, DispatcherMiddleware(root, {BASE_PATH: self.app}), threaded=True)
        threads = [threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True),
                   threading.Thread(target=self.deliver_forever, daemon=True)]
        for thread in threads:
            thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}{BASE_PATH}"
        finally:
            self.stopping.set()
            server.shutdown()
            server.server_close()
            self.outbox.put(None)
            threads[1].join(timeout=5)
