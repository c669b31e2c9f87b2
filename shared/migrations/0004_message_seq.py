from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("shared", "0003_account_names_and_guest_authors"),
    ]

    operations = [
        migrations.AddField(
            model_name="room",
            name="last_seq",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="message",
            name="seq",
            field=models.PositiveBigIntegerField(default=0),
        ),
    ]
