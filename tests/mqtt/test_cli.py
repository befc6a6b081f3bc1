"""`provider bridges create / rotate-token / revoke-broker` keep the bridge's broker account in step."""

from __future__ import annotations

import asyncio
import json
import re

import aiomqtt

from bridge_contract import mqtt as channel
from provider.cli.bridges import bridges
from tests.brokers import HOST


def _signs_in(broker, bridge_id: str, token: str) -> bool:
    async def attempt() -> bool:
        try:
            async with aiomqtt.Client(HOST, broker.port, username=bridge_id, password=token,
                                      identifier=channel.client_id(bridge_id), protocol=aiomqtt.ProtocolVersion.V5):
                return True
        except aiomqtt.MqttError:
            return False

    return asyncio.run(attempt())


def test_create_rotate_and_revoke_reach_the_broker(app, account, mosquitto, monkeypatch):
    monkeypatch.setitem(app.config, "MQTT_PROVISIONING", "mosquitto-dynsec")
    monkeypatch.setitem(app.config, "MQTT_ADMIN_URL", mosquitto.admin_url)
    runner = app.test_cli_runner()

    created = runner.invoke(bridges, ["create", "--owner", account.email])
    assert created.exit_code == 0, created.output
    bridge_id = re.search(r"bridge_id: (\S+)", created.output).group(1)
    token = re.search(r"token:\s+(\S+)", created.output).group(1)
    assert _signs_in(mosquitto, bridge_id, token)

    rotated = runner.invoke(bridges, ["rotate-token", bridge_id])
    assert rotated.exit_code == 0, rotated.output
    new_token = re.search(r"token:\s+(\S+)", rotated.output).group(1)
    assert (_signs_in(mosquitto, bridge_id, token), _signs_in(mosquitto, bridge_id, new_token)) == (False, True)

    revoked = runner.invoke(bridges, ["revoke-broker", bridge_id])
    assert revoked.exit_code == 0, revoked.output
    assert not _signs_in(mosquitto, bridge_id, new_token)


def _created(runner, account) -> tuple[str, str]:
    created = runner.invoke(bridges, ["create", "--owner", account.email])
    assert created.exit_code == 0, created.output
    return (re.search(r"bridge_id: (\S+)", created.output).group(1),
            re.search(r"token:\s+(\S+)", created.output).group(1))


def test_a_revoked_token_no_longer_signs_in_at_the_broker(app, account, mosquitto, monkeypatch):
    """A lost gateway's token stops working over MQTT too, not only over HTTP."""
    monkeypatch.setitem(app.config, "MQTT_PROVISIONING", "mosquitto-dynsec")
    monkeypatch.setitem(app.config, "MQTT_ADMIN_URL", mosquitto.admin_url)
    runner = app.test_cli_runner()
    bridge_id, token = _created(runner, account)
    assert _signs_in(mosquitto, bridge_id, token)
    revoked = runner.invoke(bridges, ["revoke-token", bridge_id])
    assert revoked.exit_code == 0, revoked.output
    assert not _signs_in(mosquitto, bridge_id, token)


def test_a_removed_bridge_is_gone_from_the_cloud_and_the_broker(app, account, mosquitto, monkeypatch):
    from provider.extensions import db
    from provider.models import Bridge

    monkeypatch.setitem(app.config, "MQTT_PROVISIONING", "mosquitto-dynsec")
    monkeypatch.setitem(app.config, "MQTT_ADMIN_URL", mosquitto.admin_url)
    runner = app.test_cli_runner()
    bridge_id, token = _created(runner, account)
    removed = runner.invoke(bridges, ["remove", bridge_id])
    assert removed.exit_code == 0, removed.output
    assert "0 locks detached" in removed.output
    db.session.expire_all()
    assert db.session.get(Bridge, bridge_id) is None
    assert not _signs_in(mosquitto, bridge_id, token)
    assert runner.invoke(bridges, ["remove", bridge_id]).exit_code != 0  # no such bridge now


def test_create_says_when_the_broker_account_could_not_be_made(app, account, monkeypatch):
    monkeypatch.setitem(app.config, "MQTT_PROVISIONING", "mosquitto-dynsec")
    monkeypatch.setitem(app.config, "MQTT_ADMIN_URL", "mqtt://admin:pw@127.0.0.1:9")
    result = app.test_cli_runner().invoke(bridges, ["create", "--owner", account.email])
    assert result.exit_code != 0
    assert "works over HTTP" in result.output and "rotate-token" in result.output


def test_dynsec_init_writes_a_private_file_once(app, tmp_path):
    path = tmp_path / "dynsec.json"
    runner = app.test_cli_runner()
    first = runner.invoke(bridges, ["dynsec-init", str(path)])
    assert first.exit_code == 0, first.output
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    users = {client["username"] for client in json.loads(path.read_text())["clients"]}
    assert users == {"provisioner", "gateway"}
    assert runner.invoke(bridges, ["dynsec-init", str(path)]).exit_code != 0
