"""The application's input queue (ws/serve.py Inbox): Daphne's asyncio.Queue, lighter, for one
reader: messages come out in order, a waiting `get` wakes on the next message, and a cancelled
`get` loses nothing; while the reader waits, each message is first offered to its `at_once`
handler (ws/direct.py)."""

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


def offered_to(inbox: Inbox, handled: set[str]) -> list[str]:
    """Make `inbox.at_once` take the messages whose text is in `handled`; returns what it was offered."""
    offered: list[str] = []

    def at_once(message: dict) -> bool:
        offered.append(message["text"])
        return message["text"] in handled

    inbox.at_once = at_once
    return offered


async def test_while_the_reader_waits_a_message_is_offered_at_once_and_if_taken_never_queued():
    inbox = Inbox()
    offered = offered_to(inbox, {"ping"})
    waiting = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait({"type": "websocket.receive", "text": "ping"})
    assert offered == ["ping"]
    await asyncio.sleep(0)
    assert not waiting.done()  # the reader still waits: it never sees the ping
    inbox.put_nowait({"type": "websocket.receive", "text": "report"})  # declined: queued
    assert await asyncio.wait_for(waiting, 1) == {"type": "websocket.receive", "text": "report"}
    assert offered == ["ping", "report"]


async def test_a_reader_busy_with_a_message_is_offered_nothing_so_answers_keep_their_order():
    inbox = Inbox()
    offered = offered_to(inbox, {"ping"})
    inbox.put_nowait({"type": "websocket.receive", "text": "report"})  # nobody waits yet
    inbox.put_nowait({"type": "websocket.receive", "text": "ping"})
    assert offered == []
    assert [(await inbox.get())["text"] for _ in range(2)] == ["report", "ping"]
    # Woken by a message but not yet run: the next one queues behind it.
    waiting = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait({"type": "websocket.receive", "text": "report"})
    inbox.put_nowait({"type": "websocket.receive", "text": "ping"})
    assert offered == ["report"]
    assert (await waiting)["text"] == "report"
    assert (await inbox.get())["text"] == "ping"
