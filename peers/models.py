"""Remote nodes and sessions with them. Discovery and the handshake arrive with issue #3."""
