"""`python -m firmware_bridge.agent` = `firmware-bridge agent` (what `provider sandbox` runs)."""

from __future__ import annotations

import logging
import os

from bridge_contract import logs
from firmware_bridge.agent.cli import agent

if __name__ == "__main__":
    # LOG_FORMAT=json: the provider's JSON lines, a command's request_id among their fields.
    logs.configure(logging.INFO, os.environ.get("LOG_FORMAT"), "%(asctime)s %(levelname)s %(name)s: %(message)s")
    agent(prog_name="firmware-bridge agent")
