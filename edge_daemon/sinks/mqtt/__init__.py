"""The MQTT sink: results, retained state and Home Assistant discovery on a broker.

Modules: sink (connection, publish, reconnects), payloads (topics, retained states and
attributes), homeassistant (discovery), offline (the queue kept while the broker is away).
"""

from edge_daemon.sinks.mqtt.sink import MqttSetupError, MqttSink

__all__ = ["MqttSetupError", "MqttSink"]
