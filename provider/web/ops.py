"""The operations console (/ops): fleet, webhooks, clients, bridges, accounts, audit log.

Only operators reach it: their own accounts (password plus TOTP), their own
session key. An owner's session or an OAuth bearer token is not an operator;
the console never reads the Authorization header. Every change an operator
makes is written to the audit log in the same transaction.
"""

from __future__ import annotations

import secrets
from functools import wraps
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from markupsafe import Markup

from provider.errors import ApiError
from provider.extensions import db
from provider.models import Account, Bridge, Lock, OAuthClient, Operator
from provider.services import (
    account_links,
    accounts,
    audit,
    bridge_assignment,
    bridges,
    broker_accounts,
    claims,
    factory,
    fleet,
    key_rotation,
    local_time,
    mail,
    oauth_clients,
    oauth_login,
    operators,
    svg_charts,
    webhooks,
)
from provider.services import locks as lock_service
from provider.web.common import secure_pages, sentence

bp = Blueprint("ops", __name__, url_prefix="/ops")
secure_pages(bp)

SESSION_OPERATOR = "operator_id"


def _operator() -> Operator | None:
    operator_id = session.get(SESSION_OPERATOR)
    operator = db.session.get(Operator, operator_id) if operator_id else None
    if operator is not None and operator.disabled_at is not None:
        session.pop(SESSION_OPERATOR, None)
        return None
    return operator


def operator_only(view: Any) -> Any:
    @wraps(view)
    def wrapper(**kwargs: Any) -> Any:
        operator = _operator()
        if operator is None:
            return redirect(url_for("ops.sign_in"), 303)
        return view(operator, **kwargs)

    return wrapper


def _row_or_404(model: Any, row_id: str) -> Any:
    row = db.session.get(model, row_id) if len(row_id) <= 36 else None
    if row is None:
        abort(404)
    return row


def _actor(operator: Operator) -> str:
    return f"operator:{operator.email}"


def _render(template: str, operator: Operator | None, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(
        template, operator=operator, utc=lambda value: local_time.display(value, "UTC"), **context
    ), status


# Sign in / out ----------------------------------------------------------------------


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Any:
    if request.method == "GET":
        if _operator() is not None:
            return redirect(url_for("ops.fleet_page"))
        return _render("ops/sign_in.html", None, email="", error=None)
    email = request.form.get("email", "").strip()
    password = request.form.get("password", "")
    code = request.form.get("code", "")
    outcome = oauth_login.throttled(
        email, request.remote_addr, "operator", "Wrong email, password or code.",
        lambda: operators.authenticate(email, password, code) if email and password and code else None,
    )
    if outcome.account is None:
        body, status = _render("ops/sign_in.html", None, outcome.status, email=email, error=outcome.error)
        return body, status, ({"Retry-After": str(outcome.retry_after)} if outcome.retry_after else {})
    operator = outcome.account
    session.clear()  # an owner signed in on this browser is signed out of the owner pages too
    session[SESSION_OPERATOR] = operator.id
    audit.record(_actor(operator), "operator.sign_in")
    db.session.commit()
    return redirect(url_for("ops.fleet_page"), 303)


@bp.post("/sign-out")
def sign_out() -> Any:
    session.clear()
    return redirect(url_for("ops.sign_in"), 303)


# Fleet --------------------------------------------------------------------------------


@bp.get("/")
@operator_only
def fleet_page(operator: Operator) -> Any:
    samples = fleet.samples()
    times = [sample.at for sample in samples]
    presence = svg_charts.line_chart(
        "Bridges and locks online, last 24 hours", times,
        {"bridges online": [s.bridges_online for s in samples], "locks online": [s.locks_online for s in samples]},
    )
    queue_chart = svg_charts.line_chart("Command queue depth, last 24 hours", times,
                                        {"queued commands": [s.queue_depth for s in samples]})
    battery = fleet.battery_distribution()
    return _render(
        "ops/fleet.html", operator, bridges=fleet.bridges(), attention=fleet.locks_needing_attention(),
        queue=fleet.queue_state(), totals=fleet.totals(), battery=battery,
        presence_chart=Markup(presence), queue_chart=Markup(queue_chart),
        battery_chart=Markup(svg_charts.bar_chart("Locks per battery level (%)", battery)),
    )


@bp.get("/locks/<lock_id>")
@operator_only
def lock(operator: Operator, lock_id: str) -> Any:
    row = _row_or_404(Lock, lock_id)
    owner = db.session.get(Account, row.owner_id)
    owners_bridges = db.session.scalars(db.select(Bridge).where(Bridge.owner_id == row.owner_id)
                                        .order_by(Bridge.name)).all()
    return _render("ops/lock.html", operator, lock=row, owner=owner, bridges=owners_bridges,
                   commands=fleet.lock_commands(row.id), events=fleet.lock_events(row.id),
                   rotations=key_rotation.history(row.id))


@bp.post("/locks/<lock_id>/rotate-key")
@operator_only
def rotate_lock_key(operator: Operator, lock_id: str) -> Any:
    """A new device key through the lock's bridge, as `provider locks rotate-key` does."""
    row = _row_or_404(Lock, lock_id)
    rotation = key_rotation.schedule(row, "operator")
    audit.record(_actor(operator), "lock.rotate_key", row.id, rotation=rotation.rotation_no)
    db.session.commit()
    state = "sent to its bridge" if row.bridge_id else "waiting for the lock to get a bridge"
    flash(f"Key rotation {rotation.rotation_no} of {row.name}: {state}.", "notice")
    return redirect(url_for("ops.lock", lock_id=row.id), 303)


@bp.post("/locks/<lock_id>/move")
@operator_only
def move_lock(operator: Operator, lock_id: str) -> Any:
    """Serves the lock from another of its owner's bridges (or the one hearing it loudest)."""
    row = _row_or_404(Lock, lock_id)
    try:
        bridge = bridge_assignment.assign(row, request.form.get("bridge_id") or None)
    except ApiError as err:
        db.session.rollback()
        flash(sentence(err), "error")
        return redirect(url_for("ops.lock", lock_id=lock_id), 303)
    audit.record(_actor(operator), "lock.move", row.id, bridge=bridge.id)
    db.session.commit()
    flash(f"{row.name} is now served by bridge {bridge.name}.", "notice")
    return redirect(url_for("ops.lock", lock_id=row.id), 303)


@bp.get("/locks")
@operator_only
def locks_page(operator: Operator) -> Any:
    rows = list(db.session.scalars(db.select(Lock).order_by(Lock.name, Lock.id).limit(fleet.LIST_LIMIT)))
    return _render("ops/locks.html", operator, rows=rows, bridges=fleet.bridges(), shown=None, error=None)


@bp.post("/locks")
@operator_only
def add_lock(operator: Operator) -> Any:
    """Registers a lock behind a bridge, as `provider locks add` does; a generated key is shown once."""
    bridge = db.session.get(Bridge, request.form.get("bridge_id", "")[:36])
    given_key = request.form.get("device_key", "").strip() or None
    try:
        if bridge is None:
            raise lock_service.LockRegistrationError("choose the bridge that serves the lock")
        row = lock_service.add_lock(
            owner_id=bridge.owner_id, bridge=bridge, name=request.form.get("name", ""),
            ble_address=request.form.get("ble_address", "").strip(), device_key_hex=given_key,
            timezone=request.form.get("timezone", "").strip() or "UTC",
        )
    except lock_service.LockRegistrationError as err:
        db.session.rollback()
        rows = list(db.session.scalars(db.select(Lock).order_by(Lock.name, Lock.id).limit(fleet.LIST_LIMIT)))
        return _render("ops/locks.html", operator, 400, rows=rows, bridges=fleet.bridges(), shown=None,
                       error=sentence(err))
    audit.record(_actor(operator), "lock.add", row.id, name=row.name, bridge=bridge.id)
    db.session.commit()
    rows = list(db.session.scalars(db.select(Lock).order_by(Lock.name, Lock.id).limit(fleet.LIST_LIMIT)))
    shown = {"what": f"Lock {row.name} registered", "device_key": None if given_key else lock_service.device_key(row)}
    return _render("ops/locks.html", operator, rows=rows, bridges=fleet.bridges(), shown=shown, error=None)


@bp.post("/locks/<lock_id>/remove")
@operator_only
def remove_lock(operator: Operator, lock_id: str) -> Any:
    row = _row_or_404(Lock, lock_id)
    name = row.name
    lock_service.remove_lock(row)
    audit.record(_actor(operator), "lock.remove", lock_id, name=name)
    db.session.commit()
    flash(f"Lock {name} removed.", "notice")
    return redirect(url_for("ops.locks_page"), 303)


# Webhooks ------------------------------------------------------------------------------


@bp.get("/webhooks")
@operator_only
def webhooks_page(operator: Operator) -> Any:
    rows = fleet.webhooks()
    latency = svg_charts.bar_chart("Median delivery latency per webhook, last 24 hours (ms)",
                                   [(row.webhook.url[-28:], row.p50_ms or 0) for row in rows], " ms")
    failures = svg_charts.bar_chart("Failed attempts per webhook, last 24 hours",
                                    [(row.webhook.url[-28:], row.failed_24h) for row in rows])
    return _render("ops/webhooks.html", operator, rows=rows, backlog=fleet.backlog_per_client(),
                   latency_chart=Markup(latency), failures_chart=Markup(failures))


@bp.post("/webhooks")
@operator_only
def create_webhook(operator: Operator) -> Any:
    """An operator-owned webhook (every owner's events, as `provider webhooks create`)."""
    types = [t for t in request.form.getlist("event_types") if t]
    try:
        hook, secret = webhooks.create_webhook(request.form.get("url", "").strip(), types,
                                               production=current_app.config["PROVIDER_ENV"] == "production")
    except webhooks.WebhookError as err:
        db.session.rollback()
        flash(sentence(err), "error")
        return redirect(url_for("ops.webhooks_page"), 303)
    audit.record(_actor(operator), "webhook.create", hook.id, url=hook.url)
    db.session.commit()
    return _webhook_page(operator, hook, shown={"what": "Webhook created: its signing secret", "secret": secret})


def _webhook_page(operator: Operator, hook: Any, shown: dict[str, Any] | None = None) -> Any:
    status = request.args.get("status") or None
    deliveries, _ = webhooks.list_deliveries(hook, status=status, limit=50)
    return _render("ops/webhook.html", operator, hook=hook, deliveries=deliveries, status_filter=status or "",
                   shown=shown, error=None)


@bp.get("/webhooks/<webhook_id>")
@operator_only
def webhook(operator: Operator, webhook_id: str) -> Any:
    hook = fleet.find_webhook(webhook_id)
    if hook is None:
        abort(404)
    return _webhook_page(operator, hook)


@bp.post("/webhooks/<webhook_id>/rotate")
@operator_only
def rotate_webhook_secret(operator: Operator, webhook_id: str) -> Any:
    hook = fleet.find_webhook(webhook_id)
    if hook is None:
        abort(404)
    secret = webhooks.rotate_secret(hook)
    audit.record(_actor(operator), "webhook.rotate_secret", hook.id)
    db.session.commit()
    return _webhook_page(operator, hook, shown={"what": "New signing secret (the old one signs for 24 more hours)",
                                                "secret": secret})


@bp.post("/webhooks/<webhook_id>/delete")
@operator_only
def delete_webhook(operator: Operator, webhook_id: str) -> Any:
    hook = fleet.find_webhook(webhook_id)
    if hook is None:
        abort(404)
    audit.record(_actor(operator), "webhook.delete", hook.id, url=hook.url)
    webhooks.delete_webhook(hook)
    db.session.commit()
    flash("Webhook deleted with its delivery log.", "notice")
    return redirect(url_for("ops.webhooks_page"), 303)


@bp.post("/webhooks/<webhook_id>/redeliver")
@operator_only
def redeliver(operator: Operator, webhook_id: str) -> Any:
    hook = fleet.find_webhook(webhook_id)
    if hook is None:
        abort(404)
    event_id = request.form.get("event_id", "")[:36]
    if webhooks.redeliver(hook, event_id) is None:
        abort(404)
    audit.record(_actor(operator), "webhook.redeliver", hook.id, event_id=event_id)
    db.session.commit()
    flash(f"Event {event_id} is queued for delivery again.", "notice")
    return redirect(url_for("ops.webhook", webhook_id=hook.id), 303)


# Clients -------------------------------------------------------------------------------


def _client_or_404(client_id: str) -> OAuthClient:
    client = oauth_clients.find_client(client_id)
    if client is None:
        abort(404)
    return client


@bp.get("/clients")
@operator_only
def clients(operator: Operator) -> Any:
    return _render("ops/clients.html", operator, clients=oauth_clients.list_clients(), error=None, shown=None)


@bp.post("/clients")
@operator_only
def create_client(operator: Operator) -> Any:
    uris = [line.strip() for line in request.form.get("redirect_uris", "").splitlines() if line.strip()]
    name = request.form.get("name", "").strip()
    try:
        if not name:
            raise oauth_clients.ClientError("a name is required")
        client, secret = oauth_clients.create_client(name, uris, request.form.get("scope") or oauth_clients.DEFAULT_SCOPE)
    except oauth_clients.ClientError as err:
        db.session.rollback()
        return _render("ops/clients.html", operator, 400, clients=oauth_clients.list_clients(),
                       error=sentence(err), shown=None)
    audit.record(_actor(operator), "client.create", client.client_id, name=name)
    db.session.commit()
    return _render("ops/clients.html", operator, clients=oauth_clients.list_clients(), error=None,
                   shown={"what": f"Client {name} created", "client_id": client.client_id, "secret": secret})


@bp.post("/clients/<client_id>/rotate")
@operator_only
def rotate_client_secret(operator: Operator, client_id: str) -> Any:
    client = _client_or_404(client_id)
    secret = oauth_clients.rotate_secret(client)
    audit.record(_actor(operator), "client.rotate_secret", client.client_id,
                 grace_hours=int(oauth_clients.DEFAULT_ROTATION_GRACE.total_seconds() // 3600))
    db.session.commit()
    return _render("ops/clients.html", operator, clients=oauth_clients.list_clients(), error=None,
                   shown={"what": f"New secret for {client.name} (the old one works for 24 more hours)",
                          "client_id": client.client_id, "secret": secret})


@bp.post("/clients/<client_id>/delete")
@operator_only
def delete_client(operator: Operator, client_id: str) -> Any:
    client = _client_or_404(client_id)
    hooks = oauth_clients.delete_client(client)
    audit.record(_actor(operator), "client.delete", client_id, webhooks_deleted=hooks)
    db.session.commit()
    flash(f"Client {client_id} deleted, with its tokens and {hooks} webhook(s).", "notice")
    return redirect(url_for("ops.clients"), 303)


# Bridges -------------------------------------------------------------------------------


@bp.get("/bridges")
@operator_only
def bridges_page(operator: Operator) -> Any:
    return _render("ops/bridges.html", operator, rows=fleet.bridges(), error=None, shown=None)


@bp.post("/bridges")
@operator_only
def create_bridge(operator: Operator) -> Any:
    owner = accounts.find_by_email(request.form.get("owner_email", ""))
    name = request.form.get("name", "").strip() or "Bridge"
    if owner is None:
        return _render("ops/bridges.html", operator, 400, rows=fleet.bridges(),
                       error="No owner account has that email address.", shown=None)
    bridge, token = bridges.create_bridge(owner.id, name[:100])
    audit.record(_actor(operator), "bridge.create", bridge.id, owner=owner.email, name=bridge.name)
    return _token_shown(operator, bridge, token, f"Bridge {bridge.name} created")


def _token_shown(operator: Operator, bridge: Bridge, token: str, what: str) -> Any:
    """Commits, gives the broker the token (MQTT_PROVISIONING), and shows it once."""
    db.session.commit()
    problem = broker_accounts.provision_after_commit(current_app.config, bridge.id, token)
    if problem:
        flash(f"The token works over HTTP, but the MQTT broker account was not made ({problem}); "
              "give the bridge a new token to try again.", "error")
    return _render("ops/bridges.html", operator, rows=fleet.bridges(), error=None,
                   shown={"what": what, "token": token})


@bp.post("/bridges/<bridge_id>/rotate-token")
@operator_only
def rotate_bridge_token(operator: Operator, bridge_id: str) -> Any:
    """A new token, shown once; the old one stops working (as `provider bridges rotate-token`)."""
    bridge = _row_or_404(Bridge, bridge_id)
    token = bridges.rotate_token(bridge)
    audit.record(_actor(operator), "bridge.rotate_token", bridge.id)
    return _token_shown(operator, bridge, token, f"New token for bridge {bridge.name} (the old one no longer works)")


@bp.post("/bridges/<bridge_id>/revoke")
@operator_only
def revoke_bridge(operator: Operator, bridge_id: str) -> Any:
    bridge = _row_or_404(Bridge, bridge_id)
    bridges.revoke_token(bridge)
    audit.record(_actor(operator), "bridge.revoke_token", bridge.id, name=bridge.name)
    db.session.commit()
    problem = broker_accounts.revoke_after_commit(current_app.config, bridge.id)
    if problem:
        flash(f"The HTTP token of bridge {bridge.name} no longer works, but its MQTT broker account "
              f"could not be removed ({problem}).", "error")
    else:
        flash(f"The token of bridge {bridge.name} no longer works.", "notice")
    return redirect(url_for("ops.bridges_page"), 303)


# Accounts ------------------------------------------------------------------------------


@bp.get("/accounts")
@operator_only
def accounts_page(operator: Operator) -> Any:
    return _render("ops/accounts.html", operator, rows=accounts.list_accounts())


@bp.post("/accounts/<account_id>/disable")
@operator_only
def disable_account(operator: Operator, account_id: str) -> Any:
    account = _row_or_404(Account, account_id)
    disable = request.form.get("disabled", "1") == "1"
    accounts.set_disabled(account, disable)
    audit.record(_actor(operator), "account.disable" if disable else "account.enable", account.id,
                 email=account.email)
    db.session.commit()
    flash(f"{account.email} is {'disabled' if disable else 'enabled again'}.", "notice")
    return redirect(url_for("ops.accounts_page"), 303)


def _mail_password_link(account: Account, subject: str, opening: str) -> None:
    token = account_links.reset_token(current_app.config["SECRET_KEY"], account)
    link = url_for("account.reset", token=token, _external=True)
    mail.send(mail.MailSettings.from_config(current_app.config), account.email, subject,
              f"{opening}\n\nChoose a password here (the link works for an hour, once):\n{link}\n")


@bp.post("/accounts")
@operator_only
def create_account(operator: Operator) -> Any:
    """An owner account with an unusable random password; the owner sets one from the mailed link."""
    brand_name = current_app.config["BRAND_NAME"]
    try:
        account = accounts.create_account(request.form.get("email", ""), secrets.token_urlsafe(32))
    except accounts.AccountError as err:
        db.session.rollback()
        flash(sentence(err), "error")
        return redirect(url_for("ops.accounts_page"), 303)
    audit.record(_actor(operator), "account.create", account.id, email=account.email)
    db.session.commit()
    _mail_password_link(account, f"Your {brand_name} account",
                        f"{brand_name} created an account for you with this address.")
    flash(f"Account {account.email} created; a link to choose a password was mailed.", "notice")
    return redirect(url_for("ops.accounts_page"), 303)


@bp.post("/accounts/<account_id>/reset")
@operator_only
def reset_account(operator: Operator, account_id: str) -> Any:
    account = _row_or_404(Account, account_id)
    brand_name = current_app.config["BRAND_NAME"]
    _mail_password_link(account, f"Reset your {brand_name} password",
                        f"{brand_name} support started a password reset for this account.")
    audit.record(_actor(operator), "account.reset_password", account.id, email=account.email)
    db.session.commit()
    flash(f"A password reset link was mailed to {account.email}.", "notice")
    return redirect(url_for("ops.accounts_page"), 303)


# Factory devices ----------------------------------------------------------------------------


@bp.get("/devices")
@operator_only
def devices_page(operator: Operator) -> Any:
    unclaimed = request.args.get("unclaimed") == "1"
    return _render("ops/devices.html", operator, rows=factory.list_devices(unclaimed=unclaimed)[:fleet.LIST_LIMIT],
                   unclaimed=unclaimed, shown=None, error=None)


@bp.post("/devices/<serial>/factory-reset")
@operator_only
def factory_reset(operator: Operator, serial: str) -> Any:
    """The device was reset on the line: unclaimed again, with a new claim code shown once."""
    device = factory.find_device(serial[:64])
    if device is None:
        abort(404)
    lock_id, code = claims.factory_reset(device)
    audit.record(_actor(operator), "device.factory_reset", serial, lock_removed=lock_id)
    db.session.commit()
    return _render("ops/devices.html", operator, rows=factory.list_devices()[:fleet.LIST_LIMIT], unclaimed=False,
                   error=None, shown={"what": f"{serial} is unclaimed" + (" (its lock was removed)" if lock_id else ""),
                                      "claim_code": code})


# Operators ------------------------------------------------------------------------------


@bp.get("/operators")
@operator_only
def operators_page(operator: Operator) -> Any:
    return _render("ops/operators.html", operator, rows=operators.list_operators())


@bp.post("/operators/<operator_id>/disable")
@operator_only
def disable_operator(operator: Operator, operator_id: str) -> Any:
    target = _row_or_404(Operator, operator_id)
    disable = request.form.get("disabled", "1") == "1"
    try:
        operators.set_disabled(target, disable, by=operator)
    except operators.OperatorError as err:
        flash(sentence(err), "error")
        return redirect(url_for("ops.operators_page"), 303)
    audit.record(_actor(operator), "operator.disable" if disable else "operator.enable", target.email)
    db.session.commit()
    flash(f"Operator {target.email} is {'disabled' if disable else 'enabled again'}.", "notice")
    return redirect(url_for("ops.operators_page"), 303)


# Audit log -----------------------------------------------------------------------------


@bp.get("/audit")
@operator_only
def audit_page(operator: Operator) -> Any:
    return _render("ops/audit.html", operator, entries=audit.recent())
