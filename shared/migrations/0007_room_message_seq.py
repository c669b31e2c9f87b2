from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("shared", "0006_number_existing_messages"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="message",
            constraint=models.UniqueConstraint(fields=("room", "seq"), name="room_message_seq"),
        ),
    ]
