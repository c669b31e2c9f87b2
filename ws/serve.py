"""Daphne's own command line, with one autobahn protocol option changed and a graceful drain on
SIGTERM (ws/start runs this).

autobahn fails a connection by dropping TCP unless told otherwise, so a client that sends a
frame over the cap would see an abnormal 1006 and no reason. With failByDrop off it gets a
close frame with 1009 (message too big) first; ping timeouts close cleanly the same way.

On SIGTERM, Twisted stops the reactor and Daphne cancels every consumer at once: their sockets
would drop with no close frame (1006) and their disconnect() would not finish. DrainingServer
first stops listening and closes every socket with 1012, spread over WS_DRAIN_SECONDS, and
waits for their disconnect() (ws/drain.py); Daphne then cancels whatever is left.
"""

import asyncio
import logging

from daphne import server
from daphne.cli import CommandLineInterface
from daphne.ws_protocol import WebSocketFactory
from twisted.internet import defer

log = logging.getLogger(__name__)


class CleanClosingWebSocketFactory(WebSocketFactory):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.setProtocolOptions(failByDrop=False)


# Daphne builds its factory from this module-level name in Server.run().
server.WebSocketFactory = CleanClosingWebSocketFactory


class DrainingServer(server.Server):
    """Daphne's Server, draining its sockets before its shutdown cancels the consumers."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ports = []

    def listen_success(self, port):
        self.ports.append(port)
        super().listen_success(port)

    def kill_all_applications(self):
        # Daphne's "before shutdown" trigger: Twisted waits for the Deferred, with the loop
        # still running, before it stops the reactor.
        drained = defer.Deferred.fromFuture(asyncio.ensure_future(self.drain()))
        drained.addErrback(lambda failure: log.error("drain failed: %s", failure.getTraceback()))
        drained.addCallback(lambda _: super(DrainingServer, self).kill_all_applications())
        return drained

    async def drain(self) -> None:
        # Settings are configured by now: the ASGI application imported them at start.
        from django.conf import settings

        from ws.drain import drain

        for port in self.ports:
            port.stopListening()  # new sockets go to another worker; a unix socket file is removed
        await drain(self.connections, settings.WS_DRAIN_SECONDS)


CommandLineInterface.server_class = DrainingServer

if __name__ == "__main__":
    CommandLineInterface.entrypoint()
