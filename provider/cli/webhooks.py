"""`provider webhooks ...` (operator registration) and `provider dispatcher` (the delivery process)."""

from __future__ import annotations

import signal
import threading
from datetime import timedelta

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from provider.cli.operators import cli_actor
from provider.config import PRODUCTION
from provider.extensions import db
from provider.models.webhook import PENDING, Webhook, WebhookDelivery
from provider.services import audit
from provider.services import webhooks as rules
from provider.services.events import WEBHOOK_EVENT_TYPES


@click.group()
def webhooks() -> None:
    """Webhooks that receive the event stream (Seam registers its own over the API)."""


def _production() -> bool:
    return current_app.config.get("PROVIDER_ENV") == PRODUCTION


def _find(webhook_id: str) -> Webhook:
    webhook = db.session.get(Webhook, webhook_id)
    if webhook is None:
        raise click.ClickException(f"no webhook {webhook_id}")
    return webhook


@webhooks.command("create")
@click.option("--url", required=True, help="https URL (sandbox: also http://127.0.0.1 / localhost).")
@click.option("--event", "events", multiple=True, type=click.Choice(WEBHOOK_EVENT_TYPES),
              help="Event type to deliver (repeatable; default: all).")
@click.option("--client", "client_id", default=None,
              help="OAuth client_id that will own it (and see it over the API); default: operator-owned.")
@with_appcontext
def create(url: str, events: tuple[str, ...], client_id: str | None) -> None:
    """Register a webhook; prints its id and signing secret (shown once)."""
    owner = None
    if client_id:
        from provider.services.oauth_clients import find_client

        client = find_client(client_id)
        if client is None:
            raise click.ClickException(f"no OAuth client {client_id!r}")
        owner = client.id
    try:
        webhook, secret = rules.create_webhook(url, events, client_id=owner, production=_production())
    except rules.WebhookError as err:
        raise click.ClickException(err.message) from err
    audit.record(cli_actor(), "webhook.create", webhook.id, url=webhook.url)
    db.session.commit()
    click.echo(f"webhook_id: {webhook.id}")
    click.echo(f"secret: {secret}")


@webhooks.command("list")
@with_appcontext
def list_() -> None:
    """Every webhook with its status, why it is failing, and its backlog."""
    pending = dict(
        db.session.execute(
            select(WebhookDelivery.webhook_id, func.count())
            .where(WebhookDelivery.status == PENDING)
            .group_by(WebhookDelivery.webhook_id)
        ).all()
    )
    hooks = db.session.scalars(select(Webhook).order_by(Webhook.created_at)).all()
    if not hooks:
        click.echo("no webhooks")
    for hook in hooks:
        events = ",".join(hook.event_types) or "all events"
        click.echo(f"{hook.id}  {hook.status:<8}  pending={pending.get(hook.id, 0):<6}  {hook.url}  [{events}]")
        if hook.status_reason:
            click.echo(f"    reason: {hook.status_reason}")


@webhooks.command("rotate-secret")
@click.argument("webhook_id")
@click.option("--grace", type=click.IntRange(0, int(rules.MAX_ROTATION_GRACE.total_seconds())),
              default=24 * 3600, show_default=True, help="Seconds the old secret keeps signing.")
@with_appcontext
def rotate_secret(webhook_id: str, grace: int) -> None:
    """Replace a webhook's signing secret; prints the new one (shown once)."""
    secret = rules.rotate_secret(_find(webhook_id), timedelta(seconds=grace))
    audit.record(cli_actor(), "webhook.rotate_secret", webhook_id)
    db.session.commit()
    click.echo(f"secret: {secret}")


@webhooks.command("delete")
@click.argument("webhook_id")
@with_appcontext
def delete(webhook_id: str) -> None:
    """Delete a webhook and its delivery log."""
    webhook = _find(webhook_id)
    audit.record(cli_actor(), "webhook.delete", webhook.id, url=webhook.url)
    rules.delete_webhook(webhook)
    db.session.commit()
    click.echo("deleted")


@webhooks.command("deliveries")
@click.argument("webhook_id")
@click.option("--status", default=None, help="Only deliveries in this state (pending, delivered, expired...).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@with_appcontext
def deliveries(webhook_id: str, status: str | None, limit: int) -> None:
    """The webhook's delivery log, newest first, with each delivery's last answer."""
    rows, _ = rules.list_deliveries(_find(webhook_id), status=status, limit=limit)
    if not rows:
        click.echo("no deliveries")
    for row in rows:
        answer = row.last_status_code or row.last_error or ""
        click.echo(f"{row.event_id}  {row.event_type:<28}  {row.status:<9}  attempts={row.attempts}  {answer}".rstrip())


@webhooks.command("redeliver")
@click.argument("webhook_id")
@click.argument("event_id")
@with_appcontext
def redeliver(webhook_id: str, event_id: str) -> None:
    """Queue one event for the webhook again (refused for an event its client may no longer see)."""
    webhook = _find(webhook_id)
    if rules.redeliver(webhook, event_id) is None:
        raise click.ClickException(f"no event {event_id} this webhook may receive")
    audit.record(cli_actor(), "webhook.redeliver", webhook.id, event_id=event_id)
    db.session.commit()
    click.echo(f"queued: {event_id}")


@click.command()
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@with_appcontext
def dispatcher(once: bool) -> None:
    """Deliver outbox events to webhooks until stopped (SIGTERM/Ctrl-C finish the current batch).

    Settings from the environment: WEBHOOK_TIMEOUT_SECONDS (15), WEBHOOK_LEASE_SECONDS,
    DISPATCHER_CONCURRENCY (8), DISPATCHER_IDLE_SECONDS (0.2: the polling of a dispatcher that no
    notification wakes, SQLite alone), DISPATCHER_IDLE_MAX_SECONDS (1: the longest idle wait of a
    woken one, PostgreSQL or Redis), EVENT_RETENTION_DAYS (30),
    DISPATCHER_NAME (unique per live dispatcher; a restart under the same name takes back
    its leases at once instead of waiting for them to expire).
    """
    from provider import logs
    from provider.dispatcher import Dispatcher

    logs.configure()  # LOG_FORMAT=json for JSON lines
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    worker = Dispatcher.from_env(app)
    if once:
        worker.drain()
        worker.close()
        return
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: (stop.set(), worker.wake()))
    worker.run_forever(stop)
