"""The event feed, for catching up after an outage.

The OAuth client's own credentials (HTTP Basic, or a client-credentials token with
events.read; provider.oauth.client_auth) see the events of the owners holding a live
grant to that client with locks.read (provider.services.grants); an owner's bearer
token (locks.read) sees only that owner's devices' events.
"""

from __future__ import annotations

from flask import jsonify, request

from provider.api import bp
from provider.errors import ApiError
from provider.oauth.client_auth import client_credentials
from provider.oauth.server import current_account, require_oauth
from provider.schemas.webhook import event_query_schema
from provider.services import cursors, event_feed
from provider.services.events import EVENT_ALIASES


def _audience() -> dict[str, str]:
    """{"client_pk": ...} for a client's credentials, {"user_id": ...} for an owner's token."""
    client = client_credentials("events.read")
    if client is not None:
        return {"client_pk": client.id}
    return {"user_id": require_oauth("locks.read")(lambda: current_account().id)()}


@bp.get("/events")
def list_events():
    audience = _audience()
    query = event_query_schema.load(request.args)
    page, next_seq = event_feed.list_events(
        **audience,
        device_id=query["device_id"],
        event_type=query["event_type"],
        since=query["since"],
        until=query["until"],
        after_seq=cursors.decode_seq(query["cursor"]),
        limit=query["limit"],
    )
    # Asked for by an alias's name, the events carry that name (as a webhook's do).
    as_type = query["event_type"] if query["event_type"] in EVENT_ALIASES else None
    return jsonify(
        events=[event_feed.event_payload(e, as_type) for e in page], next_cursor=cursors.encode_seq(next_seq)
    )


@bp.get("/events/<event_id>")
def get_event(event_id: str):
    event = event_feed.get_event(event_id, **_audience())
    if event is None:
        raise ApiError(404, "NOT_FOUND", "No such event.")
    return jsonify(event_feed.event_payload(event))
