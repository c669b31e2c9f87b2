from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("shared", "0004_shared_results"),
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
