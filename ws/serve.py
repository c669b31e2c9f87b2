"""Daphne's own command line, with one autobahn protocol option changed (ws/start runs this).

autobahn fails a connection by dropping TCP unless told otherwise, so a client that sends a
frame over the cap would see an abnormal 1006 and no reason. With failByDrop off it gets a
close frame with 1009 (message too big) first; ping timeouts close cleanly the same way.
"""

from daphne import server
from daphne.cli import CommandLineInterface
from daphne.ws_protocol import WebSocketFactory


class CleanClosingWebSocketFactory(WebSocketFactory):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.setProtocolOptions(failByDrop=False)


# Daphne builds its factory from this module-level name in Server.run().
server.WebSocketFactory = CleanClosingWebSocketFactory

if __name__ == "__main__":
    CommandLineInterface.entrypoint()
