"""The seed's inbound API: a client sends a face image, the daemon answers its emotion.

Unlike the sinks, which only send what the camera loops found, this runs the detector and
the classifier on demand. The WebSocket server routes `/` here (sinks/websocket/server.py).

Modules: api (the pools, one session per connection), session (the protocol on one
connection), images (data URLs, header and structure checks, bounded decoding), inference
(detector + classifier on one image).
"""
