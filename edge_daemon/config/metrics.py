"""The `metrics` section: the Prometheus endpoint.

Default port 11464. Prometheus' wiki of default port allocations has handed out every port
from 9100 to 9999, so any port there belongs to some registered exporter; 11464 lies above
that range, below Linux's ephemeral ports (32768+), and away from what commonly runs beside
a sensor on a Pi or a Jetson: node_exporter 9100, Prometheus 9090, Pushgateway 9091,
Alertmanager 9093, OpenTelemetry's Prometheus exporter 9464, cAdvisor 8080, Grafana 3000,
Home Assistant 8123, Frigate 5000/8971, Node-RED 1880, Portainer and MinIO 9000/9001,
Ollama 11434 and the seed's WebSocket port 8000.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from edge_daemon.config.base import Section

DEFAULT_METRICS_PORT = 11464


class MetricsConfig(Section):
    """Prometheus metrics over HTTP at `http://<address>:<port>/metrics`."""

    enabled: bool = True
    """Serve metrics at all."""
    address: str = "127.0.0.1"
    """Address to listen on. The default serves only this machine (a local Prometheus or
    an agent that forwards); `0.0.0.0` (or `::`) lets a Prometheus on the network scrape it."""
    port: int = Field(DEFAULT_METRICS_PORT, ge=1, le=65535)
    """TCP port (11464: outside the fully allocated exporter range 9100-9999 and away from
    the services that usually share a Pi or a Jetson)."""

    @field_validator("address")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("address must not be empty (127.0.0.1: this machine only)")
        return value.strip()
