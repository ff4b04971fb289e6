"""MqttSink over TLS to a real mosquitto, with a CA and certificates made by openssl."""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from edge_daemon.config.mqtt import MqttConfig
from edge_daemon.sinks.mqtt.sink import MqttSink

LABELS = ("angry", "happy", "sad")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _make_ca(d: Path, name: str) -> None:
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2",
             "-subj", f"/CN={name}", cwd=d)


def _make_cert(d: Path, name: str, ca: str, san: str) -> None:
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
    (d / f"{name}.ext").write_text(f"subjectAltName={san}\n")
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-out", f"{name}.crt", "-days", "2",
             "-extfile", f"{name}.ext", cwd=d)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """A CA, a server certificate for 127.0.0.1, a client certificate and a stranger CA."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("pki")
    _make_ca(d, "ca")
    _make_ca(d, "other-ca")
    _make_cert(d, "server", "ca", "IP:127.0.0.1,DNS:localhost")
    _make_cert(d, "client", "ca", "DNS:client")
    return d


def test_sink_connects_over_tls_with_a_client_certificate(pki, mosquitto_factory,
                                                          mqtt_recorder):
    broker = mosquitto_factory(tls={"ca": pki / "ca.crt", "cert": pki / "server.crt",
                                    "key": pki / "server.key", "require_client_cert": True})
    cfg = MqttConfig(host=broker.host, port=broker.port, topic_prefix="tls/dev",
                     client_id="tls-sink", homeassistant={"enabled": False},
                     tls={"enabled": True, "ca_file": pki / "ca.crt",
                          "cert_file": pki / "client.crt", "key_file": pki / "client.key"})
    rec = mqtt_recorder(broker.host, broker.port, ["tls/dev/#"], ca_certs=str(pki / "ca.crt"),
                        certfile=str(pki / "client.crt"), keyfile=str(pki / "client.key"))
    sink = MqttSink(cfg, ["front"], LABELS)
    sink.start()
    try:
        rec.wait_for(lambda m: m.text == "online", what="online over TLS")
    finally:
        sink.stop(1.0)
    rec.wait_for(lambda m: m.text == "stopped", what="stopped over TLS")


def test_untrusted_broker_certificate_is_a_clear_error(pki, mosquitto_factory, caplog):
    broker = mosquitto_factory(tls={"ca": pki / "ca.crt", "cert": pki / "server.crt",
                                    "key": pki / "server.key"})
    cfg = MqttConfig(host=broker.host, port=broker.port, client_id="tls-stranger",
                     reconnect_min_delay=0.05, reconnect_max_delay=0.1,
                     tls={"enabled": True, "ca_file": pki / "other-ca.crt"})
    caplog.set_level(logging.WARNING, logger="edge_daemon.sinks.mqtt")
    sink = MqttSink(cfg, ["front"], LABELS)
    sink.start()
    try:
        deadline = time.monotonic() + 5
        while sink.stats.connect_failures < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sink.stats.connect_failures >= 3 and not sink.stats.connected
    finally:
        sink.stop(0.5)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    assert "TLS handshake" in errors[0] and "CERTIFICATE_VERIFY_FAILED" in errors[0]


def test_plain_mqtt_at_a_tls_only_listener_is_counted_and_logged_once(
        pki, mosquitto_factory, caplog):
    broker = mosquitto_factory(tls={"ca": pki / "ca.crt", "cert": pki / "server.crt",
                                    "key": pki / "server.key"})
    cfg = MqttConfig(host=broker.host, port=broker.port, client_id="plain-at-tls",
                     reconnect_min_delay=0.05, reconnect_max_delay=0.1)
    caplog.set_level(logging.WARNING, logger="edge_daemon.sinks.mqtt")
    sink = MqttSink(cfg, ["front"], LABELS)
    sink.start()
    try:
        deadline = time.monotonic() + 10
        while sink.stats.connect_failures < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sink.stats.connect_failures >= 3 and not sink.stats.connected
    finally:
        sink.stop(0.5)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING
                and "cannot reach the broker" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "closed the connection before answering" in warnings[0]
    assert "mqtt.tls.enabled" in warnings[0]
