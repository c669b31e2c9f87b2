"""Daphne's own command line, with one autobahn protocol option changed (ws/start runs this),
and, with LOG_FORMAT=json, its access lines logged as JSON (ws/access.py).

autobahn fails a connection by dropping TCP unless told otherwise, so a client that sends a
frame over the cap would see an abnormal 1006 and no reason. With failByDrop off it gets a
close frame with 1009 (message too big) first; ping timeouts close cleanly the same way.
"""

import os

from daphne import cli, server
from daphne.cli import CommandLineInterface
from daphne.ws_protocol import WebSocketFactory

from ws.access import LoggedAccess


class CleanClosingWebSocketFactory(WebSocketFactory):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.setProtocolOptions(failByDrop=False)


# Daphne builds its factory from this module-level name in Server.run().
server.WebSocketFactory = CleanClosingWebSocketFactory
# LOG_FORMAT=json: access lines go through logging as JSON too (ws/access.py), not raw to stdout.
if os.environ.get("LOG_FORMAT") == "json":
    cli.AccessLogGenerator = LoggedAccess

if __name__ == "__main__":
    CommandLineInterface.entrypoint()
