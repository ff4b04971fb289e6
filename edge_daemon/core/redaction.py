"""What no log line may show: the secrets the config has read, and credential-shaped text.

The config registers each secret it reads (config/secrets.py); the log handlers' filter
masks them (logging_setup.py). The registry sits in the leaf so that neither of the two
imports the other.
"""

from __future__ import annotations

import re
import threading

# Secrets in the text of any log line, whoever logs it (the websockets library logs request
# lines and headers at debug level): query tokens, credentials in headers and URLs.
_REDACTIONS = (
    (re.compile(r"(?i)([?&;](?:token|access_token|password|passwd|secret|api_key)=)"
                r"[^&\s\"'#;]+"), r"\1***"),
    (re.compile(r"(?i)\b(authorization|proxy-authorization|cookie|x-api-key)(\s*[:=]\s*)"
                r"[^\r\n,]+"), r"\1\2***"),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s/:@]+):[^\s/@]+@"), r"\1:***@"),
)
MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words
_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Mask this value wherever it would appear in a log line (passwords, tokens)."""
    if value and len(value) >= MIN_SECRET_LENGTH:
        with _secrets_lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """The text with every registered secret and every credential-shaped part masked."""
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return text
