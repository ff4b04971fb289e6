"""The `websocket` section: defaults, limits, and when a token is required."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from edge_daemon.config.websocket import WebSocketConfig, is_loopback


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("0.0.0.0", False), ("::", False), ("192.168.1.20", False),
    ("sensor.local", False),
])
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback


def test_defaults_are_local_private_and_seed_compatible():
    config = WebSocketConfig()
    assert (config.host, config.port) == ("127.0.0.1", 8000)
    assert config.preview is False and config.max_message_bytes == 2 * 1024 * 1024
    assert not config.needs_token()


def test_a_network_address_needs_a_token_unless_explicitly_allowed():
    assert WebSocketConfig(host="0.0.0.0").needs_token()
    assert not WebSocketConfig(host="0.0.0.0", allow_unauthenticated=True).needs_token()


@pytest.mark.parametrize("bad", [
    {"token": "in-the-yaml"},  # a secret never belongs in the YAML
    {"port": 0}, {"max_clients": 0}, {"max_message_bytes": 10},
    {"seed_rate_limit": 0}, {"preview_quality": 101}, {"host": ""},
    {"token_credential": "../etc/passwd"},
])
def test_bad_values_are_refused(bad):
    with pytest.raises(ValidationError):
        WebSocketConfig(**bad)
