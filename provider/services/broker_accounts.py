"""Per-bridge broker accounts for the MQTT bridge channel.

A bridge signs in to the broker with its id as user name and its bridge token
as password, as client id ``bridge-<id>``, and may publish only its own
up-topics and subscribe only to its own down-topics (CONTRACTS.md). The
account is made when the bridge is created and remade when its token is
rotated (which drops the old token's connection); `revoke` removes it.

Two ways to reach a broker, chosen by MQTT_PROVISIONING:

* ``mosquitto-dynsec``: Mosquitto's dynamic-security plugin, through its
  ``$CONTROL/dynamic-security/v1`` topic as the MQTT_ADMIN_URL account;
* ``command``: MQTT_PROVISIONING_COMMAND is run as
  ``COMMAND provision BRIDGE_ID`` (password on stdin, then the ACL as JSON
  lines) or ``COMMAND revoke BRIDGE_ID``; a non-zero exit is a failure. This
  is the hook for EMQX, VerneMQ, HiveMQ, AWS IoT or NATS accounts.

Nothing here touches the database; callers run it after their commit.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
import subprocess
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from bridge_contract import mqtt as channel

_LOGGER = logging.getLogger(__name__)

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = CONTROL_TOPIC + "/response"
TIMEOUT_SECONDS = 5.0
#: Mosquitto's own default for dynsec passwords (PBKDF2-SHA512).
DYNSEC_ITERATIONS = 101
GATEWAY_ROLE = "bridge-gateway"


class ProvisioningError(RuntimeError):
    """The broker did not take the change (the bridge's token still works over HTTP)."""


@dataclass(frozen=True)
class Acl:
    """What one bridge may do on the broker: topic names, no wildcards."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


def bridge_acl(prefix: str, bridge_id: str) -> Acl:
    return Acl(
        publish=tuple(channel.topic(prefix, bridge_id, kind) for kind in channel.UP_TOPICS),
        subscribe=tuple(channel.topic(prefix, bridge_id, kind) for kind in channel.DOWN_TOPICS),
    )


class BrokerAccounts(Protocol):
    def provision(self, bridge_id: str, password: str) -> None: ...

    def revoke(self, bridge_id: str) -> None: ...


# --------------------------------------------------------------------------- Mosquitto
def _role(bridge_id: str) -> str:
    return f"bridge-{bridge_id}"


def role_acls(acl: Acl) -> list[dict[str, Any]]:
    rules = [{"acltype": "publishClientSend", "topic": name, "allow": True} for name in acl.publish]
    rules += [{"acltype": "subscribeLiteral", "topic": name, "allow": True} for name in acl.subscribe]
    rules += [{"acltype": "publishClientReceive", "topic": name, "allow": True} for name in acl.subscribe]
    return rules


class MosquittoDynsec:
    """Accounts in Mosquitto's dynamic-security plugin, changed through its $CONTROL API."""

    def __init__(self, admin_url: str, prefix: str = channel.DEFAULT_PREFIX, timeout: float = TIMEOUT_SECONDS) -> None:
        parts = urlsplit(admin_url)
        if not parts.hostname or not parts.username:
            raise ProvisioningError("MQTT_ADMIN_URL must look like mqtt://admin:password@host:1883")
        self.host, self.port = parts.hostname, parts.port or 1883
        self.username = unquote(parts.username)
        self.password = unquote(parts.password or "")
        self.prefix = prefix
        self.timeout = timeout

    def provision(self, bridge_id: str, password: str) -> None:
        role = _role(bridge_id)
        # Remade from nothing: a rotated token's connection is dropped with the old client.
        self._send([{"command": "deleteClient", "username": bridge_id},
                    {"command": "deleteRole", "rolename": role}], tolerate=True)
        self._send([
            {"command": "createRole", "rolename": role, "acls": role_acls(bridge_acl(self.prefix, bridge_id))},
            {"command": "createClient", "username": bridge_id, "password": password,
             "clientid": channel.client_id(bridge_id), "roles": [{"rolename": role}]},
        ])

    def revoke(self, bridge_id: str) -> None:
        self._send([{"command": "deleteClient", "username": bridge_id},
                    {"command": "deleteRole", "rolename": _role(bridge_id)}], tolerate=True)

    def _send(self, commands: list[dict[str, Any]], *, tolerate: bool = False) -> list[dict[str, Any]]:
        import paho.mqtt.client as mqtt

        answered = threading.Event()
        responses: list[dict[str, Any]] = []
        correlation = uuid.uuid4().hex
        for command in commands:
            command["correlationData"] = correlation

        def on_message(_client: Any, _userdata: Any, message: Any) -> None:
            try:
                body = json.loads(message.payload)
            except ValueError:
                return
            mine = [r for r in body.get("responses", []) if r.get("correlationData") == correlation]
            if mine:
                responses.extend(mine)
                if len(responses) >= len(commands):
                    answered.set()

        subscribed = threading.Event()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"provisioner-{correlation[:12]}",
                             protocol=mqtt.MQTTv5)
        client.username_pw_set(self.username, self.password)
        client.on_message = on_message
        client.on_subscribe = lambda *_args: subscribed.set()
        try:
            client.connect(self.host, self.port, keepalive=30)
        except OSError as err:
            raise ProvisioningError(f"broker {self.host}:{self.port} not reachable ({type(err).__name__})") from err
        client.loop_start()
        try:
            client.subscribe(RESPONSE_TOPIC, qos=1)
            if not subscribed.wait(self.timeout):
                raise ProvisioningError("the broker did not confirm the $CONTROL response subscription")
            client.publish(CONTROL_TOPIC, json.dumps({"commands": commands}), qos=1)
            if not answered.wait(self.timeout):
                raise ProvisioningError("the broker's dynamic-security plugin did not answer (is it loaded?)")
        finally:
            client.disconnect()
            client.loop_stop()
        failed = [r for r in responses if r.get("error")]
        if failed and not tolerate:
            raise ProvisioningError("; ".join(f"{r.get('command')}: {r.get('error')}" for r in failed))
        return responses


def dynsec_password(password: str, *, salt: bytes | None = None, iterations: int = DYNSEC_ITERATIONS) -> dict[str, Any]:
    """A dynsec config file's password fields (PBKDF2-SHA512, as mosquitto_ctrl writes them)."""
    salt = salt or secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, dklen=64)
    return {"password": base64.b64encode(digest).decode(), "salt": base64.b64encode(salt).decode(),
            "iterations": iterations}


def dynsec_config(admin: tuple[str, str], gateway: tuple[str, str], prefix: str = channel.DEFAULT_PREFIX) -> dict[str, Any]:
    """The initial dynamic-security file: an admin (the $CONTROL API) and the gateways' account; no bridges.

    Anything not allowed is refused (bridges get their own roles when provisioned).
    """
    control = CONTROL_TOPIC.rsplit("/", 1)[0] + "/#"
    admin_acls = [{"acltype": kind, "topic": control, "allow": True}
                  for kind in ("publishClientSend", "publishClientReceive", "subscribePattern")]
    gateway_acls = [
        *({"acltype": "publishClientSend", "topic": f"{prefix}/+/{kind}", "allow": True}
          for kind in channel.DOWN_TOPICS),
        *({"acltype": "subscribePattern", "topic": f"{prefix}/+/{kind}", "allow": True}
          for kind in channel.UP_TOPICS),
        # Mosquitto checks a shared subscription against its whole filter, $share/<group>/ included.
        *({"acltype": "subscribePattern", "topic": f"$share/+/{prefix}/+/{kind}", "allow": True}
          for kind in channel.UP_TOPICS),
        *({"acltype": "publishClientReceive", "topic": f"{prefix}/+/{kind}", "allow": True}
          for kind in channel.UP_TOPICS),
    ]
    return {
        "clients": [
            {"username": admin[0], "textName": "provisioning (the $CONTROL API)",
             "roles": [{"rolename": "admin"}], **dynsec_password(admin[1])},
            {"username": gateway[0], "textName": "provider bridge-gateway",
             "roles": [{"rolename": GATEWAY_ROLE}], **dynsec_password(gateway[1])},
        ],
        "roles": [{"rolename": "admin", "acls": admin_acls}, {"rolename": GATEWAY_ROLE, "acls": gateway_acls}],
        "defaultACLAccess": {"publishClientSend": False, "publishClientReceive": False,
                             "subscribe": False, "unsubscribe": True},
    }


# --------------------------------------------------------------------------- any broker
class CommandHook:
    """Runs the vendor's own program for each change (the hook for brokers other than Mosquitto)."""

    def __init__(self, command: str, prefix: str = channel.DEFAULT_PREFIX, timeout: float = 30.0) -> None:
        import shlex

        self.argv = shlex.split(command)
        self.prefix = prefix
        self.timeout = timeout

    def _run(self, action: str, bridge_id: str, stdin: str) -> None:
        try:
            done = subprocess.run([*self.argv, action, bridge_id], input=stdin.encode(), capture_output=True,
                                  timeout=self.timeout, check=False, env={**os.environ})
        except (OSError, subprocess.TimeoutExpired) as err:
            raise ProvisioningError(f"provisioning command failed to run ({type(err).__name__})") from err
        if done.returncode != 0:
            # Its output is not repeated: it may echo the password.
            raise ProvisioningError(f"provisioning command exited with {done.returncode}")

    def provision(self, bridge_id: str, password: str) -> None:
        acl = bridge_acl(self.prefix, bridge_id)
        lines = [password, json.dumps({"client_id": channel.client_id(bridge_id), "publish": list(acl.publish),
                                       "subscribe": list(acl.subscribe)})]
        self._run("provision", bridge_id, "\n".join(lines) + "\n")

    def revoke(self, bridge_id: str) -> None:
        self._run("revoke", bridge_id, "")


def from_config(config: Any) -> BrokerAccounts | None:
    """The configured provisioner (MQTT_PROVISIONING), or None when accounts are made by hand."""
    kind = (config.get("MQTT_PROVISIONING") or "").strip()
    prefix = config.get("MQTT_TOPIC_PREFIX") or channel.DEFAULT_PREFIX
    if not kind:
        return None
    if kind == "mosquitto-dynsec":
        if not config.get("MQTT_ADMIN_URL"):
            raise ProvisioningError("MQTT_PROVISIONING=mosquitto-dynsec needs MQTT_ADMIN_URL")
        return MosquittoDynsec(config["MQTT_ADMIN_URL"], prefix)
    if kind == "command":
        if not config.get("MQTT_PROVISIONING_COMMAND"):
            raise ProvisioningError("MQTT_PROVISIONING=command needs MQTT_PROVISIONING_COMMAND")
        return CommandHook(config["MQTT_PROVISIONING_COMMAND"], prefix)
    raise ProvisioningError(f"MQTT_PROVISIONING must be mosquitto-dynsec or command, got {kind!r}")


def provision_after_commit(config: Any, bridge_id: str, token: str) -> str | None:
    """Makes the bridge's broker account when provisioning is configured (after the commit:
    the bridge exists over HTTP either way). None when done or not configured, else why not."""
    try:
        provisioner = from_config(config)
        if provisioner is not None:
            provisioner.provision(bridge_id, token)
    except ProvisioningError as err:
        _LOGGER.warning("bridge %s: broker account not made: %s", bridge_id, err)
        return str(err)
    return None


def revoke_after_commit(config: Any, bridge_id: str) -> str | None:
    """Removes the bridge's broker account (a revoked token, a removed bridge) when provisioning
    is configured: its MQTT connection ends with it. None when done or not configured, else why not."""
    try:
        provisioner = from_config(config)
        if provisioner is not None:
            provisioner.revoke(bridge_id)
    except ProvisioningError as err:
        _LOGGER.warning("bridge %s: broker account not removed: %s", bridge_id, err)
        return str(err)
    return None
