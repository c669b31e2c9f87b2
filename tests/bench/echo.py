"""The baselines: the least a Channels consumer can do with a frame (send it back), and the
Channels tutorial's chat room.

`EchoConsumer` is stock Channels. `LeanEchoConsumer` has the three shortcuts the app's own
consumers take (ws/consumers/base.py): it skips the thread hop that Channels makes before every
message (`aclose_old_connections()`), it writes its text frames straight to the socket
(ws/direct.py) instead of through the ASGI `send` chain, and it sends a ping back in the read
that brought it while it waits for a frame (ws/direct.py), as the app answers pings. So the app
is compared with a consumer that does nothing with the same advantages, and with stock Channels.

`TutorialChatConsumer` is the chat consumer of the Channels tutorial (part 3, "Rewrite Chat
Server as Asynchronous"): every socket joins the room's group with its own channel, and a
message is a `group_send` to that group, which the channel layer delivers once per socket.
It stores nothing and checks nothing: the floor for that design, not a rival app.
"""

import json

from channels.generic.websocket import AsyncWebsocketConsumer

from ws.consumers.base import ProtocolConsumer
from ws.direct import direct_sender, receive_at_once

# In the text of every ping frame (the app's consumers look for it the same way).
PING_MARK = '"ping"'


class EchoConsumer(AsyncWebsocketConsumer):
    channel_layer_alias = None

    async def receive(self, text_data=None, bytes_data=None):
        await self.send(text_data=text_data)


class LeanEchoConsumer(EchoConsumer):
    dispatch = ProtocolConsumer.dispatch
    send_text = None

    async def websocket_connect(self, message):
        self.send_text = direct_sender(self.scope)
        if self.send_text is not None:
            receive_at_once(self.scope, self.echo_ping_at_once)
        await super().websocket_connect(message)

    async def websocket_disconnect(self, message):
        # As the app's consumers do: no cycle between the input queue and this consumer.
        receive_at_once(self.scope, None)
        await super().websocket_disconnect(message)

    def echo_ping_at_once(self, message: dict) -> bool:
        text = message.get("text")
        if text is None or PING_MARK not in text or message["type"] != "websocket.receive" or self.send_text is None:
            return False
        self.send_text(text)
        return True

    async def receive(self, text_data=None, bytes_data=None):
        if self.send_text is None or text_data is None:
            await super().receive(text_data, bytes_data)
        else:
            self.send_text(text_data)


class TutorialChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.room_group_name = f"tutorial_chat_{self.scope['url_route']['kwargs']['room']}"
        await self.channel_layer.group_add(self.room_group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, close_code):
        await self.channel_layer.group_discard(self.room_group_name, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        message = json.loads(text_data)["message"]
        await self.channel_layer.group_send(self.room_group_name, {"type": "chat.message", "message": message})

    async def chat_message(self, event):
        await self.send(text_data=json.dumps({"message": event["message"]}))
