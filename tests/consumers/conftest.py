from channels.testing import HttpCommunicator, WebsocketCommunicator

from ws.asgi import application

ORIGIN = (b"origin", b"http://127.0.0.1:8000")


def websocket(path: str, origin: bytes = ORIGIN[1]) -> WebsocketCommunicator:
    """A client of the whole ASGI app (origin check, auth, routing), as Daphne would run it."""
    return WebsocketCommunicator(application, path, headers=[(b"origin", origin), (b"host", b"127.0.0.1:8000")])


def http(path: str) -> HttpCommunicator:
    return HttpCommunicator(application, "GET", path)
