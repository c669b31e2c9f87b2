"""`/ws/presence/`: who is online, live, for signed-in users. Sends only; any frame gets
`unknown_type`. (Being connected here counts as online too, as on every endpoint.)"""

from shared.protocol import CLOSE_SIGN_IN_REQUIRED, PRESENCE_ENDPOINT
from ws.consumers.base import ProtocolConsumer
from ws.presence import Presence


class PresenceConsumer(ProtocolConsumer):
    accepts = PRESENCE_ENDPOINT
    endpoint = "presence"
    watching = False

    async def connect(self) -> None:
        # Accepted first: only an open socket can carry the 4401 that tells the page why.
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_SIGN_IN_REQUIRED)
            return
        self.watching = True
        await Presence.current().watchers.watch(self)

    async def disconnect(self, code: int) -> None:
        if self.watching:
            Presence.current().watchers.unwatch(self)
