"""The web layer: routes, the WebSocket endpoint and the room's rendering."""
