"""Periodic housekeeping for the device side: silent bridges, expired commands, old counters.

`sweep()` is safe to run from several processes at once (every transition is a
conditional UPDATE); the webhook dispatcher calls it every 5 s,
`provider sweep [--loop]` runs it by hand.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from provider.clock import now as clock_now
from provider.extensions import db
from provider.services import bridges, browser_sessions, commands, fleet, key_rotation, rate_limits

# Run it at least this often for timely offline detection and command timeouts.
SWEEP_INTERVAL_SECONDS = 5.0


def sweep(
    *, heartbeat_timeout_seconds: float, at: datetime | None = None, key_max_age_days: float = 0.0
) -> dict[str, int]:
    """Marks silent bridges (and their locks) offline and fails expired commands; commits.
    Also sends pending key rotations that have no command, and (key_max_age_days > 0)
    schedules rotations of keys older than that.

    The caller passes BRIDGE_HEARTBEAT_TIMEOUT_SECONDS and KEY_ROTATION_MAX_AGE_DAYS from its app config.
    """
    at = at or clock_now()
    offline = bridges.sweep_silent_bridges(heartbeat_timeout_seconds, at)
    db.session.commit()
    expired = commands.expire(at)
    db.session.commit()
    pruned = rate_limits.prune(at - timedelta(seconds=rate_limits.WINDOW_SECONDS))
    db.session.commit()
    browser_sessions.prune(at)
    db.session.commit()
    scheduled = key_rotation.schedule_due(timedelta(days=key_max_age_days)) if key_max_age_days > 0 else 0
    resumed = key_rotation.resume()
    db.session.commit()
    sampled = fleet.sample(at)  # the console's 24-hour charts: one row per 5 minutes
    return {"bridges_offline": offline, "commands_expired": expired, "rate_counters_pruned": pruned,
            "key_rotations_scheduled": scheduled, "key_rotations_resumed": resumed,
            "fleet_sampled": int(sampled)}
