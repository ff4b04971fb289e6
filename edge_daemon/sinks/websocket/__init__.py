"""The local HTTP/WebSocket server: results stream, the seed's protocol, the live page.

    sink = websocket_sink(config.websocket, cameras, detector, classifier)
    sink.start(); sink.publish(result, frame); sink.stop(timeout)

Modules: sink (thread, loop, publish), server (routing, tokens, limits), stream (results
to subscribers), seed (the seed's protocol), images (data URLs, header sizes), inference
(detector + classifier on demand), preview (JPEG previews), page (the page's files).
"""

from .inference import ImageEmotion, OnDemandInference
from .sink import WebSocketSetupError, WebSocketSink, websocket_sink
from .stats import WebSocketStats

__all__ = ["ImageEmotion", "OnDemandInference", "WebSocketSetupError", "WebSocketSink",
           "WebSocketStats", "websocket_sink"]
