"""Secrets (the MQTT password) from the environment or systemd credentials, never only YAML.

Order: the environment variable, then the file `$CREDENTIALS_DIRECTORY/<name>` that systemd's
`LoadCredential=<name>:/path` provides. The YAML never needs to hold a password.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from pydantic import StringConstraints

from edge_daemon.config.base import Section
from edge_daemon.core.redaction import register_secret

MQTT_PASSWORD_ENV = "EMOTION_EDGE_MQTT_PASSWORD"
MQTT_PASSWORD_CREDENTIAL = "mqtt_password"


class SecretsConfig(Section):
    """Where secrets are looked up (their values never belong in the YAML)."""

    mqtt_password_credential: Annotated[
        str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+$", max_length=255)
    ] = MQTT_PASSWORD_CREDENTIAL
    """Name of the systemd credential (a file in $CREDENTIALS_DIRECTORY, from
    LoadCredential=) holding the MQTT password; the environment variable
    EMOTION_EDGE_MQTT_PASSWORD takes precedence over it."""


class SecretError(RuntimeError):
    """A secret was announced (its credential file exists) but could not be read."""


@dataclass(frozen=True)
class Secret:
    """A secret value and where it came from; the value never appears in repr or logs."""

    value: str = field(repr=False)
    origin: str

    def __post_init__(self) -> None:
        register_secret(self.value)  # masked in every log line from now on

    def __str__(self) -> str:
        return f"<secret from {self.origin}>"


def read_secret(
    env_var: str, credential: str, environ: Mapping[str, str] | None = None
) -> Secret | None:
    """The secret from env_var, else from the systemd credential file; None when neither."""
    environ = os.environ if environ is None else environ
    value = environ.get(env_var)
    if value:
        return Secret(value, f"environment variable {env_var}")
    directory = environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        return None
    if not credential or "/" in credential or credential in (".", ".."):
        raise SecretError(f"credential name {credential!r} is not a plain file name")
    path = Path(directory) / credential
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretError(f"cannot read credential {path}: {exc}") from None
    # Files written with `echo` end in a newline that is not part of the password; an empty
    # file (the installer's default, and the unit's SetCredential fallback) means none.
    text = text.rstrip("\r\n")
    return Secret(text, f"credential file {path}") if text else None


def mqtt_password(
    credential: str = MQTT_PASSWORD_CREDENTIAL, environ: Mapping[str, str] | None = None
) -> Secret | None:
    """The MQTT password from EMOTION_EDGE_MQTT_PASSWORD or $CREDENTIALS_DIRECTORY/credential."""
    return read_secret(MQTT_PASSWORD_ENV, credential, environ)
