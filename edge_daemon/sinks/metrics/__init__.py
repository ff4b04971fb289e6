"""Prometheus metrics on /metrics: per-frame timings and the stages' own counters.

Modules: sink (the HTTP endpoint and the per-frame series), collector (the stages' stats
read at scrape time).
"""

from edge_daemon.sinks.metrics.sink import MetricsSink

__all__ = ["MetricsSink"]
