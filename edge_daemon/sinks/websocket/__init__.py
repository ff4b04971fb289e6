"""The local HTTP/WebSocket server: the results stream, the live page, and the seed's API.

    sink = WebSocketSink(config.websocket, cameras, api=SeedApi(...), token=token)
    sink.start(); sink.publish(result, frame); sink.stop(timeout)

Modules: sink (thread, loop, publish), server (routing, tokens, limits), stream (results
to subscribers), preview (JPEG previews), page (the page's files). The seed's protocol at
`/` is served by the API handed in (edge_daemon.seed_api), not by this package.
"""

from edge_daemon.sinks.websocket.sink import WebSocketSetupError, WebSocketSink

__all__ = ["WebSocketSetupError", "WebSocketSink"]
