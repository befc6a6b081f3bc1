"""Webhook management: per environment, with the OAuth client's own credentials (HTTP Basic,
or a client-credentials token with webhooks.manage; provider.oauth.client_auth).

An owner's bearer token never manages webhooks: those belong to the integration
(Seam), not to a lock owner.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app, jsonify, request

from provider.api import bp
from provider.config import PRODUCTION
from provider.errors import ApiError
from provider.extensions import db
from provider.oauth.client_auth import require_client
from provider.schemas import load_json
from provider.schemas.webhook import (
    delivery_query_schema,
    delivery_schema,
    redeliver_schema,
    rotate_secret_schema,
    webhook_schema,
    webhook_update_schema,
)
from provider.services import cursors
from provider.services import webhooks as rules


def _client() -> Any:
    return require_client(
        "webhooks.manage",
        "Webhooks are managed with the OAuth client's own credentials (HTTP Basic, or a "
        "client-credentials token), not an owner's token.",
    )


def _production() -> bool:
    return current_app.config.get("PROVIDER_ENV") == PRODUCTION


def _webhook(client: Any, webhook_id: str) -> Any:
    webhook = rules.get_webhook(client.id, webhook_id)
    if webhook is None:
        raise ApiError(404, "NOT_FOUND", "No such webhook.")
    return webhook


@bp.post("/webhooks")
def create_webhook():
    client = _client()
    data = load_json(webhook_schema)
    webhook, secret = rules.create_webhook(
        data["url"], data.get("event_types"), client_id=client.id, production=_production()
    )
    if data.get("enabled") is False:
        rules.update_webhook(webhook, enabled=False)
    db.session.commit()
    return jsonify({**webhook_schema.dump(webhook), "secret": secret}), 201


@bp.get("/webhooks")
def list_webhooks():
    client = _client()
    return jsonify(webhooks=webhook_schema.dump(rules.list_webhooks(client.id), many=True))


@bp.get("/webhooks/<webhook_id>")
def get_webhook(webhook_id: str):
    return jsonify(webhook_schema.dump(_webhook(_client(), webhook_id)))


@bp.patch("/webhooks/<webhook_id>")
def update_webhook(webhook_id: str):
    webhook = _webhook(_client(), webhook_id)
    data = load_json(webhook_update_schema)
    rules.update_webhook(
        webhook,
        url=data.get("url"),
        event_types=data.get("event_types"),
        enabled=data.get("enabled"),
        production=_production(),
    )
    db.session.commit()
    return jsonify(webhook_schema.dump(webhook))


@bp.delete("/webhooks/<webhook_id>")
def delete_webhook(webhook_id: str):
    rules.delete_webhook(_webhook(_client(), webhook_id))
    db.session.commit()
    return "", 204


@bp.post("/webhooks/<webhook_id>/rotate_secret")
def rotate_webhook_secret(webhook_id: str):
    webhook = _webhook(_client(), webhook_id)
    data = load_json(rotate_secret_schema)
    secret = rules.rotate_secret(webhook, timedelta(seconds=data["grace_seconds"]))
    db.session.commit()
    return jsonify({**webhook_schema.dump(webhook), "secret": secret})


@bp.get("/webhooks/<webhook_id>/deliveries")
def list_webhook_deliveries(webhook_id: str):
    webhook = _webhook(_client(), webhook_id)
    query = delivery_query_schema.load(request.args)
    page, next_seq = rules.list_deliveries(
        webhook,
        status=query["status"],
        event_id=query["event_id"],
        after_seq=cursors.decode_seq(query["cursor"]),
        limit=query["limit"],
    )
    return jsonify(deliveries=delivery_schema.dump(page, many=True), next_cursor=cursors.encode_seq(next_seq))


@bp.post("/webhooks/<webhook_id>/redeliver")
def redeliver_webhook_event(webhook_id: str):
    webhook = _webhook(_client(), webhook_id)
    data = load_json(redeliver_schema)
    delivery = rules.redeliver(webhook, data["event_id"])
    if delivery is None:
        raise ApiError(404, "NOT_FOUND", "No such event (it may have been pruned).")
    db.session.commit()
    delivery.attempt_log = []
    return jsonify(delivery_schema.dump(delivery)), 202
