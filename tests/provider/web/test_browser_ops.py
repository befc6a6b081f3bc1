"""An operator uses the console in headless Chromium: TOTP sign-in, a failing webhook, redeliver.

And the other way round: an owner signed in on the same browser cannot open it.
"""

from __future__ import annotations

import pytest

from provider.extensions import db
from provider.models import Event, Webhook, WebhookAttempt, WebhookDelivery
from provider.services import operators
from tests.browser import check_page
from tests.provider.devices.conftest import make_site
from tests.provider.web.conftest import OPERATOR_EMAIL, OPERATOR_PASSWORD

# Many pages, each screenshotted and checked at two widths: minutes on a loaded 2-core machine.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]


def _failing_webhook(app, account) -> tuple[Webhook, Event]:
    """A webhook whose receiver answered 503 until its delivery expired."""
    from provider.clock import now
    from provider.services import webhooks

    make_site(app, account)
    hook, _ = webhooks.create_webhook("http://127.0.0.1:9/hook", [], production=False)
    hook.status, hook.status_reason = "failing", "The receiver answered HTTP 503 nine times in a row."
    event = db.session.query(Event).order_by(Event.seq).first()
    delivery = WebhookDelivery(webhook_id=hook.id, event_seq=event.seq, event_id=event.event_id,
                               event_type=event.event_type, status="expired", attempts=9, last_status_code=503,
                               last_error="HTTP 503")
    db.session.add(delivery)
    db.session.flush()
    db.session.add(WebhookAttempt(delivery_id=delivery.id, attempt=9, attempted_at=now(), status_code=503,
                                  latency_ms=41, succeeded=False))
    db.session.commit()
    return hook, event


def _a_day_of_samples() -> None:
    """What the sweeper would have written over the last 24 hours (a bridge dropping out at night)."""
    from datetime import timedelta

    from provider.clock import now
    from provider.models import FleetSample

    start = now() - timedelta(hours=24)
    for n in range(0, 288, 3):
        night = 100 <= n <= 130
        db.session.add(FleetSample(at=start + timedelta(minutes=5 * n), bridges_total=1,
                                   bridges_online=0 if night else 1, locks_total=2,
                                   locks_online=0 if night else 2, queue_depth=(n % 17) // 4 + (6 if night else 0)))
    db.session.commit()


def test_operator_signs_in_with_totp_finds_the_failing_webhook_and_redelivers(page, app, account, operator):
    hook, event = _failing_webhook(app, account)
    _a_day_of_samples()
    page.goto("/ops/")
    check_page(page, "ops-sign-in")
    page.fill("#email", OPERATOR_EMAIL)
    page.fill("#password", OPERATOR_PASSWORD)
    page.fill("#code", operators.current_code(operator))
    page.click("#sign-in")
    page.wait_for_selector("h1:has-text('Fleet')")
    check_page(page, "ops-fleet")

    page.click("nav >> text=Webhooks")
    row = page.locator("tr.webhook.failing")
    assert "HTTP 503 nine times" in row.inner_text()
    check_page(page, "ops-webhooks")
    row.locator("a").click()
    page.wait_for_selector("h1:has-text('Deliveries to')")
    check_page(page, "ops-webhook")
    page.click(f"button[aria-label='Redeliver {event.event_type} {event.event_id}']")
    page.wait_for_selector("text=is queued for delivery again")
    db.session.expire_all()
    assert db.session.query(WebhookDelivery).one().status == "pending"

    page.click("nav >> text=Audit log")
    assert "webhook.redeliver" in page.inner_text("table")
    check_page(page, "ops-audit")
    headings = {"Clients": "OAuth clients", "Devices": "Factory devices"}
    for name in ("Locks", "Clients", "Bridges", "Devices", "Accounts", "Operators"):
        page.click(f"nav >> text={name}")
        page.wait_for_selector(f"h1:has-text('{headings.get(name, name)}')")
        check_page(page, f"ops-{name.lower()}")

    # Another operator, disabled from the console with the keyboard; it shows in the audit log.
    operators.create_operator("second@vendor.example", "ops-password-2")
    db.session.commit()
    page.reload()
    page.focus("button[aria-label='Disable second@vendor.example']")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Operator second@vendor.example is disabled.")
    assert page.locator("tr[data-operator='second@vendor.example'] .badge").inner_text() == "disabled"
    check_page(page, "ops-operators-disabled")
    page.click("nav >> text=Audit log")
    assert "operator.disable" in page.inner_text("table")


def test_an_owners_session_cannot_open_the_console(page, account, operator):
    page.goto("/account/sign-in")
    page.fill("#email", "jane@example.com")
    page.fill("#password", "1234")
    page.click("#sign-in")
    page.wait_for_selector("h1:has-text('Your locks')")
    page.goto("/ops/")
    assert page.url.endswith("/ops/sign-in")
    page.goto("/ops/webhooks")
    assert page.url.endswith("/ops/sign-in")
    assert page.locator("#code").count() == 1
