"""Where results go: MQTT, the WebSocket server, Prometheus metrics, sampled images.

A sink imports only the leaf (edge_daemon.core), the config, and its own package: it never
reaches back into a stage. results_json is the one message format MQTT and WebSocket share.
"""
