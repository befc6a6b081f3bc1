"""`python -m firmware_bridge.agent` = `firmware-bridge agent` (what `provider sandbox` runs)."""

from __future__ import annotations

import logging

from firmware_bridge.agent.cli import agent

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    agent(prog_name="firmware-bridge agent")
