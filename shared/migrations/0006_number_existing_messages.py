"""Number the messages already stored, room by room, in id order (the order they were stored
in before rooms numbered their messages), and give each room its newest number."""

from django.db import migrations


def number_messages(apps, schema_editor):
    Room = apps.get_model("shared", "Room")
    Message = apps.get_model("shared", "Message")
    for room in Room.objects.order_by("pk").iterator():
        seq = 0
        for pk in Message.objects.filter(room=room).order_by("id").values_list("pk", flat=True).iterator():
            seq += 1
            Message.objects.filter(pk=pk).update(seq=seq)
        Room.objects.filter(pk=room.pk).update(last_seq=seq)


class Migration(migrations.Migration):
    dependencies = [
        ("shared", "0005_message_seq"),
    ]

    operations = [
        migrations.RunPython(number_messages, migrations.RunPython.noop),
    ]
