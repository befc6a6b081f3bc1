"""URL rules, the SSRF guard at delivery time, secrets at rest, pruning."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from provider.dispatcher import deliveries, sender
from provider.extensions import db
from provider.models import Event
from provider.models.webhook import DELIVERED, PENDING, WebhookDelivery
from provider.services import crypto, webhooks
from tests.provider.webhooks.receiver import Reply


@pytest.mark.parametrize(
    ("url", "production", "ok"),
    [
        ("http://127.0.0.1:8000/hook", False, True),
        ("http://localhost/hook", False, True),
        ("https://hooks.example.com/x", False, True),
        ("http://hooks.example.com/x", False, False),
        ("http://127.0.0.1:8000/hook", True, False),
        ("https://127.0.0.1/hook", True, False),
        ("https://[::ffff:127.0.0.1]/hook", True, False),
        ("https://169.254.169.254/latest/meta-data", True, False),
        ("https://100.100.100.200/x", True, False),
        ("https://192.168.1.10/x", True, False),
        ("https://[fd00:ec2::254]/x", True, False),
        ("https://0.0.0.0/x", True, False),
        ("https://8.8.8.8/hook", True, True),
        ("https://user:pw@8.8.8.8/x", True, False),
        ("https://8.8.8.8/x#frag", False, False),
        ("https://8.8.8.8:99999/x", False, False),
        ("javascript:alert(1)", False, False),
        ("https://a..b/x", True, False),
        ("https://does-not-exist.invalid/x", True, False),
        ("", False, False),
    ],
)
def test_url_rules(url, production, ok):
    if ok:
        assert webhooks.validate_url(url, production=production) == url
    else:
        with pytest.raises(webhooks.WebhookError):
            webhooks.validate_url(url, production=production)


def test_production_refuses_a_loopback_target_at_delivery_time(receiver):
    """A host that resolved to a public address at registration may point at 127.0.0.1 later."""
    from datetime import UTC, datetime

    session = sender.make_session(production=True)
    outcome = sender.post(session, receiver.url, b"{}", {}, timeout=5, at=datetime.now(UTC))
    assert outcome.status_code is None and "loopback" in outcome.error
    assert receiver.received == []
    sandbox = sender.post(sender.make_session(production=False), receiver.url, b"{}", {}, timeout=5,
                          at=datetime.now(UTC))
    assert sandbox.status_code == 204
    receiver.received.clear()  # a bare "{}", not an event: nothing for the spec check to read


def test_retry_after_parsing():
    from datetime import UTC, datetime

    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert sender.parse_retry_after("30", at) == 30
    assert sender.parse_retry_after("Thu, 01 Jan 2026 00:02:00 GMT", at) == 120
    assert sender.parse_retry_after("0", at) == 1
    assert sender.parse_retry_after("99999999", at) == sender.MAX_RETRY_AFTER_SECONDS
    assert sender.parse_retry_after("soon", at) is None and sender.parse_retry_after(None, at) is None


def test_secrets_are_encrypted_at_rest(app, make_webhook):
    hook, secret = make_webhook("http://127.0.0.1:9/hook")
    assert secret not in hook.secret_encrypted
    assert webhooks.signing_secrets(hook) == [secret]
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(hook.secret_encrypted, purpose="device-key")
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(hook.secret_encrypted, purpose=webhooks.SECRET_PURPOSE, secret_key="another key")


def test_unknown_event_types_are_kept_apart_and_malformed_ones_refused():
    assert webhooks.validate_event_types(["lock.exploded", "device.offline", "device.offline"]) == [
        "device.offline", "lock.exploded"]
    for bad in ([""], [42], ["x" * 65], ["device.offline"] * 101):
        with pytest.raises(webhooks.WebhookError) as err:
            webhooks.validate_event_types(bad)
        assert err.value.field == "events"


def test_pruning_keeps_pending_unfanned_and_newest_events(app, receiver, dispatcher, make_webhook, emit,
                                                          frozen_clock):
    hook, _ = make_webhook(receiver.url)
    delivered = emit(device_id="lock-1").seq
    dispatcher.drain()
    receiver.respond = lambda _: Reply(500)
    stuck = emit(device_id="lock-2").seq
    dispatcher.drain()
    frozen_clock.advance(40 * 86400)
    deliveries.fan_out(frozen_clock.now())  # the dispatcher's next turn: its cursor passes settled holes
    newest = emit(device_id="lock-3").seq  # recorded now, not yet fanned out
    removed = deliveries.prune(frozen_clock.now(), timedelta(days=30))
    remaining = set(db.session.scalars(select(Event.seq)))
    assert delivered not in remaining
    assert stuck in remaining  # still pending (retried for 3 days from its redelivery window)
    assert newest in remaining
    assert removed >= 2  # the delivered event and its delivery row
    statuses = {d.event_seq: d.status for d in db.session.scalars(select(WebhookDelivery))}
    assert statuses == {stuck: PENDING}
    assert DELIVERED not in statuses.values()


def test_pruning_never_outruns_the_fan_out(app, make_webhook, emit, frozen_clock):
    make_webhook("http://127.0.0.1:9/hook")
    old = [emit().seq for _ in range(3)]
    frozen_clock.advance(40 * 86400)
    emit()
    deliveries.prune(frozen_clock.now(), timedelta(days=30))
    # Nothing was fanned out yet: every event stays until the webhook has its delivery rows.
    assert set(old) <= set(db.session.scalars(select(Event.seq)))
