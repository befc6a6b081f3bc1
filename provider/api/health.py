from __future__ import annotations

from flask import jsonify

from provider.api import bp
from provider.services import health


@bp.get("/health")
def get_health():
    """Liveness: the process answers. Seam polls this."""
    return jsonify(ok=True)


@bp.get("/health/ready")
def get_readiness():
    """Readiness for a load balancer: 503 while the database does not answer."""
    report = health.readiness()
    return jsonify(report), (200 if report["ok"] else 503)
