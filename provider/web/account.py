"""The lock owner's pages: sign in, locks, access codes, history, connected apps, password."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, NoReturn
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

import bridge_contract as contract
from provider.errors import ApiError
from provider.extensions import db
from provider.models import Account, Bridge, Event
from provider.services import (
    access_codes,
    account_links,
    accounts,
    actions,
    claims,
    grants,
    local_time,
    lock_history,
    locks,
    mail,
    oauth_login,
    secret_hashing,
    sharing,
)
from provider.services.oauth_clients import SCOPES
from provider.web.common import error_page, secure_pages, sentence

bp = Blueprint("account", __name__, url_prefix="/account")
secure_pages(bp)

SESSION_ACCOUNT = "account_id"  # the same key the OAuth sign-in page uses: one sign-in for both

EVENT_WORDS = {
    "lock.action_completed": "Locked or unlocked",
    "access_code.created": "Code added",
    "access_code.updated": "Code changed",
    "access_code.deleted": "Code removed",
    "access_code.used": "Code used",
    "access_code.incorrect_attempt": "Wrong code typed",
    "device.online": "Came online",
    "device.offline": "Went offline",
    "device.low_battery": "Battery low",
    "battery.low": "Battery low",
    "battery.replaced": "Battery replaced",
    "device.time_wrong": "Clock wrong",
    "device.door_opened": "Door opened",
    "device.door_closed": "Door closed",
    "device.added": "Added to your account",
    "device.tampered": "Tampered with",
    "lock.access_denied": "Keypad locked after wrong codes",
}


# How each role reads on a page (services.locks.ROLE_PERMISSIONS says what it allows).
ROLE_WORDS = {
    "owner": "You own this lock",
    "admin": "Shared with you: admin (lock, unlock, access codes, sharing)",
    "user": "Shared with you: user (lock and unlock)",
}


# The roles a lock can be shared with, as the share form offers them.
SHARE_ROLE_CHOICES = [
    ("user", "User: can lock and unlock"),
    ("admin", "Admin: can also manage access codes and share the lock"),
]


# Helpers ---------------------------------------------------------------------------


def _owner() -> Account | None:
    account_id = session.get(SESSION_ACCOUNT)
    account = db.session.get(Account, account_id) if account_id else None
    if account is not None and account.disabled:
        session.clear()
        return None
    return account


def signed_in(view: Any) -> Any:
    @wraps(view)
    def wrapper(**kwargs: Any) -> Any:
        owner = _owner()
        if owner is None:
            return redirect(url_for("account.sign_in", next=request.full_path.rstrip("?")), 303)
        return view(owner, **kwargs)

    return wrapper


def _limiter() -> Any:
    return current_app.extensions["device_rate_limiter"]


def _mail_settings() -> mail.MailSettings:
    return mail.MailSettings.from_config(current_app.config)


def _render(template: str, owner: Account | None, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(
        template,
        owner=owner,
        local=local_time.display,
        utc=lambda value: local_time.display(value, "UTC"),
        allows=locks.allows,
        role_words=ROLE_WORDS,
        **context,
    ), status


def _safe_next(target: str | None) -> str:
    """Only a path of this site (never another origin) is followed after sign-in."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return request.script_root + target
    return url_for("account.locks")


def _start_session(account: Account) -> None:
    session.clear()  # nothing carried over from before signing in
    session[SESSION_ACCOUNT] = account.id


def _last_seen(rows: list[Any]) -> dict[str, datetime | None]:
    bridge_ids = {lock.bridge_id for lock in rows if lock.bridge_id}
    seen = {
        bridge.id: bridge.last_seen_at
        for bridge in db.session.scalars(db.select(Bridge).where(Bridge.id.in_(bridge_ids)))
    } if bridge_ids else {}
    return {lock.id: seen.get(lock.bridge_id) if lock.online else lock.updated_at for lock in rows}


# Signing in and out ---------------------------------------------------------------


@bp.get("/")
def home() -> Any:
    return redirect(url_for("account.locks"))


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Any:
    next_url = request.args.get("next", "")
    context = {"next": next_url, "signup": current_app.config.get("ACCOUNT_SIGNUP") == "self"}
    if request.method == "GET":
        if _owner() is not None:
            return redirect(_safe_next(next_url))
        return _render("account/sign_in.html", None, email="", error=None, **context)
    email = request.form.get("email", "").strip()
    outcome = oauth_login.sign_in(email, request.form.get("password", ""), request.remote_addr)
    if outcome.account is None:
        body, status = _render("account/sign_in.html", None, outcome.status, email=email,
                               error=outcome.error, **context)
        headers = {"Retry-After": str(outcome.retry_after)} if outcome.retry_after else {}
        return body, status, headers
    _start_session(outcome.account)
    return redirect(_safe_next(next_url), 303)


@bp.post("/sign-out")
def sign_out() -> Any:
    session.clear()
    flash("You are signed out.", "notice")
    return redirect(url_for("account.sign_in"), 303)


# Locks -----------------------------------------------------------------------------


@bp.get("/locks", endpoint="locks")
@signed_in
def locks_page(owner: Account) -> Any:
    rows, _ = locks.list_locks(owner.id)
    seen = _last_seen(rows)
    return _render("account/locks.html", owner, rows=rows, last_seen=lambda lock: seen.get(lock.id))


def _codes_for_display(owner: Account, lock: Any) -> list[dict[str, Any]]:
    if not locks.allows(lock, "manage_codes"):
        return []
    shown = []
    for code in access_codes.list_codes(owner.id, lock.id):
        shown.append({
            "id": code.id, "name": code.name, "slot": code.slot, "pin": access_codes.plaintext(code),
            "starts_at": code.starts_at, "ends_at": code.ends_at, "status": code.status,
            "error_code": code.error_code, "managed": code.is_managed,
        })
    return shown


def _lock_page(owner: Account, lock: Any, *, error: str | None = None, form: dict[str, str] | None = None,
               status: int = 200, share_error: str | None = None, share_form: dict[str, str] | None = None,
               owner_error: str | None = None, owner_form: dict[str, str] | None = None) -> Any:
    seen = _last_seen([lock])
    return _render(
        "account/lock.html", owner, status, lock=lock, codes=_codes_for_display(owner, lock),
        last_seen=lambda row: seen.get(row.id), error=error,
        form=form or {"name": "", "code": "", "starts_at": "", "ends_at": ""},
        shares=sharing.list_shares(lock) if locks.allows(lock, "share") else [],
        share_roles=SHARE_ROLE_CHOICES, share_error=share_error,
        share_form=share_form or {"email": "", "role": "user"},
        owner_error=owner_error, owner_form=owner_form or {"to_email": ""},
        my_share=sharing.share_of(lock, owner.id) if lock.role != "owner" else None,
    )


@bp.get("/locks/<lock_id>")
@signed_in
def lock(owner: Account, lock_id: str) -> Any:
    return _lock_page(owner, _lock_or_error(owner, lock_id))


def _refuse(err: ApiError) -> NoReturn:
    """The API's refusal as a page: its 403 sentence for a role that may not, else a plain 404."""
    if err.status == 403:
        abort(make_response(error_page(403, sentence(err))))
    abort(404)


def _lock_or_error(owner: Account, lock_id: str, permission: str = "view") -> Any:
    """The lock if the account's role on it (owned or shared) allows `permission`: the API's
    access check (locks.lock_for), its 404 for a lock the account has no role on, its 403
    sentence for a role that may not do this."""
    try:
        return locks.lock_for(owner.id, lock_id, permission)
    except ApiError as err:
        _refuse(err)


@bp.post("/locks/<lock_id>/actions")
@signed_in
def act(owner: Account, lock_id: str) -> Any:
    lock = _lock_or_error(owner, lock_id)
    action = request.form.get("action", "")
    try:
        actions.request_action(owner.id, lock.id, action, limiter=_limiter(),
                               performed_via=contract.PERFORMED_VIA_MOBILE_APP)
    except ApiError as err:
        db.session.rollback()
        flash(f"{lock.name}: {err.message}", "error")
    else:
        db.session.commit()
        flash(f"{lock.name}: {'locking' if action == 'lock' else 'unlocking'} — sent to the lock.", "notice")
    return redirect(_back_to(lock.id), 303)


def _back_to(lock_id: str) -> str:
    """Back to the page the form was on (the list or the lock's own page; pages send no Referer)."""
    if request.form.get("from") == "list":
        return url_for("account.locks")
    return url_for("account.lock", lock_id=lock_id)


# Access codes -----------------------------------------------------------------------


def _code_fields(lock: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The form's values as the service takes them (times from the lock's timezone) and as typed."""
    typed = {key: request.form.get(key, "") for key in ("name", "code", "starts_at", "ends_at")}
    fields: dict[str, Any] = {
        "code": typed["code"].strip(),
        "name": typed["name"].strip() or None,
        "starts_at": local_time.parse_local(typed["starts_at"], lock.timezone),
        "ends_at": local_time.parse_local(typed["ends_at"], lock.timezone),
    }
    return fields, typed


@bp.post("/locks/<lock_id>/codes")
@signed_in
def create_code(owner: Account, lock_id: str) -> Any:
    lock = _lock_or_error(owner, lock_id, "manage_codes")
    typed = {key: request.form.get(key, "") for key in ("name", "code", "starts_at", "ends_at")}
    try:
        fields, typed = _code_fields(lock)
        access_codes.create_code(owner.id, lock.id, limiter=_limiter(), **fields)
    except ApiError as err:
        db.session.rollback()
        return _lock_page(owner, lock, error=err.message, form=typed, status=err.status)
    db.session.commit()
    flash("Code saved. The lock gets it the next time its bridge reaches it.", "notice")
    return redirect(url_for("account.lock", lock_id=lock.id), 303)


@bp.route("/codes/<code_id>/edit", methods=["GET", "POST"])
@signed_in
def edit_code(owner: Account, code_id: str) -> Any:
    try:
        code = access_codes.get_code(owner.id, code_id)
    except ApiError as err:
        _refuse(err)
    lock = _lock_or_error(owner, code.lock_id, "manage_codes")
    if request.method == "GET":
        form = {
            "name": code.name or "", "code": access_codes.plaintext(code),
            "starts_at": local_time.input_value(code.starts_at, lock.timezone),
            "ends_at": local_time.input_value(code.ends_at, lock.timezone),
        }
        return _render("account/edit_code.html", owner, code=code, lock=lock, form=form, error=None)
    typed = {key: request.form.get(key, "") for key in ("name", "code", "starts_at", "ends_at")}
    try:
        fields, typed = _code_fields(lock)
        changes = _changes(code, fields)
        if changes:
            access_codes.update_code(owner.id, code.id, limiter=_limiter(), **changes)
    except ApiError as err:
        db.session.rollback()
        return _render("account/edit_code.html", owner, err.status, code=code, lock=lock, form=typed,
                       error=err.message)
    db.session.commit()
    flash("Code changed." if changes else "Nothing to change.", "notice")
    return redirect(url_for("account.lock", lock_id=lock.id), 303)


def _changes(code: Any, fields: dict[str, Any]) -> dict[str, Any]:
    """Only what the owner changed, as a PATCH would carry it."""
    current = {"code": access_codes.plaintext(code), "name": code.name,
               "starts_at": code.starts_at, "ends_at": code.ends_at}
    return {key: value for key, value in fields.items() if value != current[key]}


def _code_change(change: Any, done: str) -> Any:
    """Runs one change of a code (the API's service); back to its lock's page with what happened."""
    try:
        code = change()
    except ApiError as err:
        db.session.rollback()
        if err.status == 404:
            abort(404)
        flash(err.message, "error")
        return redirect(url_for("account.locks"), 303)
    db.session.commit()
    flash(done, "notice")
    return redirect(url_for("account.lock", lock_id=code.lock_id), 303)


@bp.post("/codes/<code_id>/convert")
@signed_in
def convert_code(owner: Account, code_id: str) -> Any:
    return _code_change(lambda: access_codes.convert_to_managed(owner.id, code_id),
                        "Code converted: it stays on the lock, and you can change or remove it here from now on.")


@bp.post("/codes/<code_id>/delete")
@signed_in
def delete_code(owner: Account, code_id: str) -> Any:
    return _code_change(lambda: access_codes.delete_code(owner.id, code_id, limiter=_limiter()),
                        "Code removed. The lock forgets it the next time its bridge reaches it.")


# Claiming, sharing, transferring, unclaiming ------------------------------------------


@bp.route("/claim", methods=["GET", "POST"])
@signed_in
def claim(owner: Account) -> Any:
    form = {key: request.form.get(key, "").strip() for key in ("claim_code", "name", "timezone")}
    if request.method == "GET":
        # The QR code on the box opens this page with the code in the address (factory.claim_url).
        scanned = request.args.get("code", "")[:64]
        return _render("account/claim.html", owner, form={"claim_code": scanned, "name": "", "timezone": "UTC"},
                       error=None)
    try:
        lock = claims.claim(owner.id, form["claim_code"], name=form["name"] or None,
                            timezone=form["timezone"] or "UTC")
    except ApiError as err:
        db.session.rollback()
        return _render("account/claim.html", owner, err.status, form=form, error=err.message)
    db.session.commit()
    flash(f"{lock.name} is now yours. Apps you connected see it from now on.", "notice")
    return redirect(url_for("account.lock", lock_id=lock.id), 303)


def _confirmed() -> bool:
    """A destructive form posts twice: first it asks (a page, no script needed), then it acts."""
    return request.form.get("confirm") == "yes"


def _confirm_page(owner: Account, lock: Any, *, heading: str, sentence_text: str, action: str, submit: str,
                  fields: dict[str, str] | None = None) -> Any:
    return _render("account/confirm.html", owner, lock=lock, heading=heading, sentence_text=sentence_text,
                   action=action, submit=submit, fields=fields or {},
                   back=url_for("account.lock", lock_id=lock.id))


@bp.post("/locks/<lock_id>/shares")
@signed_in
def share_lock(owner: Account, lock_id: str) -> Any:
    lock = _lock_or_error(owner, lock_id, "share")
    typed = {"email": request.form.get("email", "").strip(), "role": request.form.get("role", "")}
    try:
        _, created = sharing.share(lock, granted_by=owner.id, email=typed["email"], role=typed["role"])
    except ApiError as err:
        db.session.rollback()
        return _lock_page(owner, lock, status=err.status, share_error=err.message, share_form=typed)
    db.session.commit()
    flash(f"{lock.name} is shared with {typed['email'].lower()} ({typed['role']})." if created
          else f"{typed['email'].lower()} is now {typed['role']} of {lock.name}.", "notice")
    return redirect(url_for("account.lock", lock_id=lock.id), 303)


@bp.post("/locks/<lock_id>/shares/<share_id>/revoke")
@signed_in
def revoke_share(owner: Account, lock_id: str, share_id: str) -> Any:
    try:
        lock, row = sharing.share_to_remove(owner.id, lock_id, share_id)
    except ApiError as err:
        _refuse(err)
    leaving = row.account_id == owner.id
    if not _confirmed():
        email = db.session.get(Account, row.account_id).email
        return _confirm_page(
            owner, lock,
            heading=f"Leave {lock.name}?" if leaving else f"Stop sharing {lock.name} with {email}?",
            sentence_text=("You lose access to this lock, and so do the apps you connected."
                           if leaving else f"{email} loses access to this lock, and so do the apps they connected."),
            action=url_for("account.revoke_share", lock_id=lock.id, share_id=row.id),
            submit="Leave the lock" if leaving else "Stop sharing",
        )
    sharing.revoke(lock, row)
    db.session.commit()
    if leaving:
        flash(f"You no longer have access to {lock.name}.", "notice")
        return redirect(url_for("account.locks"), 303)
    flash("Sharing stopped.", "notice")
    return redirect(url_for("account.lock", lock_id=lock.id), 303)


@bp.post("/locks/<lock_id>/transfer")
@signed_in
def transfer_lock(owner: Account, lock_id: str) -> Any:
    lock = _lock_or_error(owner, lock_id, "own")
    to_email = request.form.get("to_email", "").strip()
    if not _confirmed():
        if not to_email:
            return _lock_page(owner, lock, status=400, owner_error="Type the email address of the new owner.")
        return _confirm_page(
            owner, lock, heading=f"Give {lock.name} to {to_email.lower()}?",
            sentence_text=("The new owner gets the lock; you, everyone you shared it with and the apps you "
                           "connected lose it. Its access codes are removed from the lock."),
            action=url_for("account.transfer_lock", lock_id=lock.id), submit="Transfer the lock",
            fields={"to_email": to_email},
        )
    name = lock.name
    try:
        claims.transfer(lock, to_email)
    except ApiError as err:
        db.session.rollback()
        lock = _lock_or_error(owner, lock_id, "own")
        return _lock_page(owner, lock, status=err.status, owner_error=err.message,
                          owner_form={"to_email": to_email})
    db.session.commit()
    flash(f"{name} now belongs to {to_email.lower()}.", "notice")
    return redirect(url_for("account.locks"), 303)


@bp.post("/locks/<lock_id>/unclaim")
@signed_in
def unclaim_lock(owner: Account, lock_id: str) -> Any:
    lock = _lock_or_error(owner, lock_id, "own")
    if not _confirmed():
        return _confirm_page(
            owner, lock, heading=f"Remove {lock.name} from your account?",
            sentence_text=("The lock goes back to being unclaimed: you, everyone you shared it with and the apps "
                           "you connected lose it, and its access codes are removed from the lock. You get a new "
                           "claim code for whoever sets it up next."),
            action=url_for("account.unclaim_lock", lock_id=lock.id), submit="Remove the lock",
        )
    name = lock.name
    code = claims.release(lock)
    db.session.commit()
    return _render("account/unclaimed.html", owner, name=name, claim_code=code)


# History ----------------------------------------------------------------------------


def _day_bounds(value: str, timezone: str, *, end: bool) -> datetime | None:
    """A date typed in the lock's timezone, as the UTC start of that day (or of the next)."""
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d")
    except ValueError as err:
        raise local_time.LocalTimeError(f"Not a date: {value!r}.") from err
    if end:
        day += timedelta(days=1)
    return day.replace(tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def _details(event: Event) -> str:
    data = event.data or {}
    parts = []
    for key, words in (("action_type", "action"), ("action", "action"), ("status", "status"),
                       ("performed_via", "by"), ("error_code", "error"), ("name", "code")):
        value = data.get(key)
        if value and f"{words}: {value}" not in parts:
            parts.append(f"{words}: {value}")
    nested = data.get("access_code")
    if isinstance(nested, dict) and nested.get("name") and f"code: {nested['name']}" not in parts:
        parts.append(f"code: {nested['name']}")
    return ", ".join(parts)


@bp.get("/locks/<lock_id>/history")
@signed_in
def history(owner: Account, lock_id: str) -> Any:
    lock = _lock_or_error(owner, lock_id)
    filters = {"type": request.args.get("type", ""), "from": request.args.get("from", ""),
               "to": request.args.get("to", "")}
    if filters["type"] and filters["type"] not in EVENT_WORDS:
        filters["type"] = ""
    before = request.args.get("before", "")
    error = None
    rows: list[Event] = []
    next_seq = None
    try:
        rows, next_seq = lock_history.history(
            owner.id, lock.id,
            event_type=filters["type"] or None,
            since=_day_bounds(filters["from"], lock.timezone, end=False),
            until=_day_bounds(filters["to"], lock.timezone, end=True),
            before_seq=int(before) if before.isdigit() else None,
        )
    except local_time.LocalTimeError as err:
        error = str(err)
    return _render(
        "account/history.html", owner, lock=lock, rows=rows, next_seq=next_seq, filters=filters,
        error=error, event_types=sorted(EVENT_WORDS.items(), key=lambda item: item[1]),
        describe=lambda event_type: EVENT_WORDS.get(event_type, event_type), details=_details,
    )


# Connected apps -----------------------------------------------------------------------


@bp.get("/apps")
@signed_in
def apps(owner: Account) -> Any:
    return _render("account/apps.html", owner, grants=grants.connected_apps(owner.id), scope_words=SCOPES)


@bp.post("/apps/<client_pk>/revoke")
@signed_in
def revoke_app(owner: Account, client_pk: str) -> Any:
    if not grants.revoke_client(owner.id, client_pk[:36]):
        abort(404)
    db.session.commit()
    flash("Access revoked. That app can no longer reach your locks.", "notice")
    return redirect(url_for("account.apps"), 303)


# Password -------------------------------------------------------------------------------


def _form_page(owner: Account | None, status: int = 200, **context: Any) -> Any:
    context.setdefault("error", None)
    context.setdefault("done", None)
    context.setdefault("intro", None)
    context.setdefault("fields", None)
    context.setdefault("back", None)
    return _render("account/form_page.html", owner, status, **context)


_NEW_PASSWORD_FIELDS = [
    ("new_password", "New password", "password", "new-password"),
    ("confirm", "New password again", "password", "new-password"),
]


def _new_password() -> tuple[str | None, str | None]:
    new = request.form.get("new_password", "")
    if new != request.form.get("confirm", ""):
        return None, "The two new passwords are not the same."
    try:
        accounts.check_new_password(new)
    except accounts.AccountError as err:
        return None, sentence(err)
    return new, None


@bp.route("/password", methods=["GET", "POST"])
@signed_in
def password(owner: Account) -> Any:
    page = {"heading": "Change your password", "action": url_for("account.password"),
            "submit": "Change password",
            "fields": [("current_password", "Current password", "password", "current-password"),
                       *_NEW_PASSWORD_FIELDS]}
    if request.method == "GET":
        return _form_page(owner, **page)
    new, error = _new_password()
    if new is not None:
        try:
            accounts.change_password(owner, request.form.get("current_password", ""), new)
        except accounts.AccountError as err:
            error = sentence(err)
    if error:
        return _form_page(owner, 400, error=error, **page)
    db.session.commit()
    _start_session(owner)  # a fresh session after a password change
    flash("Your password is changed.", "notice")
    return redirect(url_for("account.locks"), 303)


@bp.route("/reset", methods=["GET", "POST"])
def reset_request() -> Any:
    page = {"heading": "Reset your password", "action": url_for("account.reset_request"),
            "submit": "Send me a link", "back": url_for("account.sign_in"),
            "intro": "Type the email address of your account. We send a link that lets you choose a new password.",
            "fields": [("email", "Email", "email", "username")]}
    if request.method == "GET":
        return _form_page(None, **page)
    account = accounts.find_by_email(request.form.get("email", ""))
    if account is not None and not account.disabled:
        token = account_links.reset_token(current_app.config["SECRET_KEY"], account)
        link = url_for("account.reset", token=token, _external=True)
        mail.send(_mail_settings(), account.email, f"Reset your {current_app.config['BRAND_NAME']} password",
                  f"Someone (hopefully you) asked to reset the password of this account.\n\n"
                  f"Choose a new password here (the link works for an hour, once):\n{link}\n\n"
                  f"If it was not you, ignore this mail: your password stays as it is.\n")
    # The same answer whether or not the address has an account: nothing to learn from it.
    page.pop("fields")
    return _form_page(None, done="If that address has an account, a link to reset its password is on its way.",
                      **page)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset(token: str) -> Any:
    secret_key = current_app.config["SECRET_KEY"]
    account = account_links.account_for_reset(secret_key, token)
    if account is None:
        return _form_page(None, 400, heading="This link does not work any more",
                          error="The link has expired or was already used. Ask for a new one.",
                          back=url_for("account.reset_request"), back_label="Ask for a new link")
    page = {"heading": "Choose a new password", "action": url_for("account.reset", token=token),
            "submit": "Save password", "fields": _NEW_PASSWORD_FIELDS}
    if request.method == "GET":
        return _form_page(None, **page)
    new, error = _new_password()
    if new is None:
        return _form_page(None, 400, error=error, **page)
    accounts.set_password(account, new)
    db.session.commit()
    _start_session(account)
    flash("Your password is changed and you are signed in.", "notice")
    return redirect(url_for("account.locks"), 303)


# Sign-up (when the vendor allows it) ------------------------------------------------------


@bp.route("/sign-up", methods=["GET", "POST"])
def sign_up() -> Any:
    if current_app.config.get("ACCOUNT_SIGNUP") != "self":
        abort(404)
    page = {"heading": "Create an account", "action": url_for("account.sign_up"), "submit": "Create account",
            "back": url_for("account.sign_in"),
            "fields": [("email", "Email", "email", "username"), *_NEW_PASSWORD_FIELDS]}
    if request.method == "GET":
        return _form_page(None, **page)
    email = accounts.normalise_email(request.form.get("email", ""))
    new, error = _new_password()
    if new is not None and ("@" not in email or len(email) > 254):
        error = "That is not an email address."
    if error:
        return _form_page(None, 400, error=error, **page)
    if accounts.find_by_email(email) is None:
        token = account_links.signup_token(current_app.config["SECRET_KEY"], email,
                                           secret_hashing.hash_secret(new or ""))
        link = url_for("account.confirm_sign_up", token=token, _external=True)
        mail.send(_mail_settings(), email, f"Confirm your {current_app.config['BRAND_NAME']} account",
                  f"Follow this link to confirm your address and create your account (it works for a day):\n"
                  f"{link}\n\nIf you did not ask for an account, ignore this mail.\n")
    page.pop("fields")
    return _form_page(None, done="Check your mail: we sent a link to confirm your address.", **page)


@bp.get("/sign-up/<token>")
def confirm_sign_up(token: str) -> Any:
    if current_app.config.get("ACCOUNT_SIGNUP") != "self":
        abort(404)
    claims = account_links.signup_claims(current_app.config["SECRET_KEY"], token)
    if claims is None:
        return _form_page(None, 400, heading="This link does not work any more",
                          error="The link has expired. Sign up again.", back=url_for("account.sign_up"),
                          back_label="Sign up again")
    try:
        account = accounts.create_confirmed(*claims)
    except accounts.AccountError:
        return _form_page(None, 409, heading="Account already exists",
                          error="This address already has an account. Sign in instead.",
                          back=url_for("account.sign_in"))
    db.session.commit()
    _start_session(account)
    flash("Your account is ready.", "notice")
    return redirect(url_for("account.locks"), 303)


# The sandbox's mailbox ----------------------------------------------------------------------


@bp.get("/sandbox/mail")
def sandbox_mail() -> Any:
    if current_app.config.get("PROVIDER_ENV") != "sandbox" or current_app.config.get("SMTP_HOST"):
        abort(404)
    return _render("account/mail.html", _owner(), mails=mail.dropped(_mail_settings()))
