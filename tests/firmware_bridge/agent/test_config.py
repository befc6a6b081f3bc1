from __future__ import annotations

from pathlib import Path

import pytest

from firmware_bridge.agent.config import ConfigError, load_config


def test_flags_override_env_override_file(tmp_path):
    path = tmp_path / "agent.toml"
    path.write_text(
        'provider_url = "http://file"\nbridge_token = "file-token"\nidle_disconnect = 3\n'
        'backend = "virtual"\n'
    )
    env = {
        "FIRMWARE_BRIDGE_PROVIDER_URL": "http://env",
        "FIRMWARE_BRIDGE_TOKEN": "env-token",
        "FIRMWARE_BRIDGE_STATE_DIR": str(tmp_path / "state"),
    }
    config = load_config({"provider_url": "http://flag", "backend": None}, env, path)
    assert config.provider_url == "http://flag"
    assert config.bridge_token == "env-token"
    assert config.backend == "virtual"
    assert config.idle_disconnect == 3.0
    assert config.state_dir == Path(tmp_path / "state")
    assert config.api_url == "http://flag/bridge/v1"


def test_token_never_in_repr():
    config = load_config({"provider_url": "http://p", "bridge_token": "s3cret-token"}, {})
    assert "s3cret-token" not in repr(config)
    assert config.backend == "bleak"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"provider_url": "http://p"}, "bridge token"),
        ({"bridge_token": "t"}, "provider URL"),
        ({"provider_url": "http://p", "bridge_token": "t", "backend": "zigbee"}, "backend"),
        ({"provider_url": "http://p", "bridge_token": "t", "poll_wait": "60"}, "poll_wait"),
        (
            {"provider_url": "http://p", "bridge_token": "t", "idle_disconnect": "soon"},
            "idle_disconnect",
        ),
    ],
)
def test_invalid_config_refused(flags, message):
    with pytest.raises(ConfigError, match=message):
        load_config(flags, {})


def test_unknown_file_key_refused(tmp_path):
    path = tmp_path / "agent.toml"
    path.write_text('provider_url = "http://p"\nbridge_tokn = "typo"\n')
    with pytest.raises(ConfigError, match="bridge_tokn"):
        load_config({}, {}, path)
