"""The application's input queue (ws/serve.py Inbox): Daphne's asyncio.Queue, lighter, for one
reader: messages come out in order, a waiting `get` wakes on the next message, and a cancelled
`get` loses nothing."""

import asyncio

from ws.serve import Inbox


async def test_messages_come_out_in_the_order_they_were_put():
    inbox = Inbox()
    inbox.put_nowait({"type": "websocket.connect"})
    inbox.put_nowait({"type": "websocket.receive", "text": "1"})
    assert await inbox.get() == {"type": "websocket.connect"}
    assert await inbox.get() == {"type": "websocket.receive", "text": "1"}


async def test_a_waiting_get_wakes_on_the_next_message():
    inbox = Inbox()
    waiting = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    assert not waiting.done()
    inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
    assert await asyncio.wait_for(waiting, 1) == {"type": "websocket.disconnect", "code": 1000}


async def test_a_cancelled_get_loses_no_message():
    inbox = Inbox()
    waiting = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait({"type": "websocket.connect"})
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    assert await asyncio.wait_for(inbox.get(), 1) == {"type": "websocket.connect"}
