"""The data step of shared/migrations/0003: existing accounts get their keys, and messages stored
under an existing username are marked as written by an account."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("shared", "0002_alter_room_name")]
AFTER = [("shared", "0003_account_names_and_guest_authors")]


def migrate(targets):
    """Migrate `shared` to `targets`; the models as they were then (with auth's, at its latest)."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state([*targets, *executor.loader.graph.leaf_nodes("auth")]).apps


@pytest.mark.django_db(transaction=True)
def test_existing_users_get_keys_and_their_messages_lose_the_guest_mark():
    """Two old accounts that read alike ("Bob", "bob"): the older keeps the key, and the
    migration does not fail on the second."""
    old = migrate(BEFORE)
    try:
        User = old.get_model("auth", "User")
        Room = old.get_model("shared", "Room")
        Message = old.get_model("shared", "Message")
        users = [User.objects.create(username=name) for name in ("Bob", "bob", "carol")]
        room = Room.objects.create(name="lobby")
        for author in ("Bob", "carol", "visitor"):
            Message.objects.create(room=room, author=author, text="hi")

        new = migrate(AFTER)
        keys = new.get_model("shared", "AccountName").objects.order_by("user_id")
        assert [k.user_id for k in keys] == [users[0].pk, users[2].pk]
        guests = new.get_model("shared", "Message").objects.order_by("id").values_list("author", "guest")
        assert list(guests) == [("Bob", False), ("carol", False), ("visitor", True)]
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_existing_messages_are_numbered_room_by_room_in_id_order():
    """shared/migrations/0006: each room's messages get seq 1, 2, 3, ... and the room its last."""
    old = migrate([("shared", "0004_shared_results")])
    try:
        Room = old.get_model("shared", "Room")
        Message = old.get_model("shared", "Message")
        lobby, other, _empty = (Room.objects.create(name=name) for name in ("lobby", "other", "empty"))
        for room in (lobby, other, lobby, lobby, other):
            Message.objects.create(room=room, author="ada", text="hi")

        new = migrate([("shared", "0007_room_message_seq")])
        rows = new.get_model("shared", "Message").objects.order_by("id").values_list("room__name", "seq")
        assert list(rows) == [("lobby", 1), ("other", 1), ("lobby", 2), ("lobby", 3), ("other", 2)]
        rooms = new.get_model("shared", "Room").objects.order_by("pk").values_list("name", "last_seq")
        assert list(rooms) == [("lobby", 3), ("other", 2), ("empty", 0)]
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
