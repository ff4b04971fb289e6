"""The MQTT password from the environment or a systemd credential file."""

from __future__ import annotations

import os

import pytest

from edge_daemon.config.secrets import SecretError, mqtt_password


def test_from_the_environment():
    secret = mqtt_password(environ={"EMOTION_EDGE_MQTT_PASSWORD": "pw-env"})
    assert secret is not None and secret.value == "pw-env"
    assert "EMOTION_EDGE_MQTT_PASSWORD" in secret.origin
    assert "pw-env" not in repr(secret) and "pw-env" not in str(secret)


def test_from_the_credentials_directory_without_the_trailing_newline(tmp_path):
    (tmp_path / "mqtt_password").write_text("pw-file\n")
    secret = mqtt_password(environ={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert secret is not None and secret.value == "pw-file"
    assert str(tmp_path / "mqtt_password") in secret.origin


def test_credential_name_is_configurable(tmp_path):
    (tmp_path / "broker").write_text("pw-named")
    secret = mqtt_password("broker", environ={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert secret is not None and secret.value == "pw-named"


def test_environment_wins_over_the_credential(tmp_path):
    (tmp_path / "mqtt_password").write_text("pw-file")
    environ = {"CREDENTIALS_DIRECTORY": str(tmp_path), "EMOTION_EDGE_MQTT_PASSWORD": "pw-env"}
    assert mqtt_password(environ=environ).value == "pw-env"


def test_none_when_neither_is_there(tmp_path):
    assert mqtt_password(environ={}) is None
    assert mqtt_password(environ={"CREDENTIALS_DIRECTORY": str(tmp_path)}) is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_credential_is_an_error(tmp_path):
    path = tmp_path / "mqtt_password"
    path.write_text("x")
    path.chmod(0)
    with pytest.raises(SecretError, match="cannot read credential"):
        mqtt_password(environ={"CREDENTIALS_DIRECTORY": str(tmp_path)})


def test_a_credential_that_is_a_directory_is_an_error(tmp_path):
    (tmp_path / "mqtt_password").mkdir()
    with pytest.raises(SecretError, match="cannot read credential"):
        mqtt_password(environ={"CREDENTIALS_DIRECTORY": str(tmp_path)})


def test_a_credential_name_with_a_slash_is_refused(tmp_path):
    with pytest.raises(SecretError, match="plain file name"):
        mqtt_password("../etc/passwd", environ={"CREDENTIALS_DIRECTORY": str(tmp_path)})


@pytest.mark.parametrize("content", ["", "\n", "\r\n"])
def test_an_empty_credential_means_no_password(tmp_path, content):
    # The installer creates an empty file and the unit's SetCredential= fallback is "\n".
    (tmp_path / "mqtt_password").write_text(content)
    assert mqtt_password(environ={"CREDENTIALS_DIRECTORY": str(tmp_path)}) is None
