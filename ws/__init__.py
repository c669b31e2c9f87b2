"""The ASGI side, served by Daphne: WebSocket consumers under /ws/ and nothing else."""
