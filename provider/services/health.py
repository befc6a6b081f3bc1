from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from provider.extensions import db

_LOGGER = logging.getLogger(__name__)


def readiness() -> dict[str, object]:
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as err:
        _LOGGER.warning("Readiness check: database unavailable: %s", type(err).__name__)
        db.session.rollback()
        return {"ok": False, "database": "unavailable"}
    return {"ok": True, "database": "ok"}
