"""Chat rooms and their messages: the only app data kept in the SQL database (live state is in Redis); and
the key of each account's username, which no guest name and no other account may share."""

import hashlib

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from shared.protocol import CHAT_TEXT_MAX_CHARS, ROOM_PATTERN, name_key

# Usernames are at most 150 characters (Django's User); display names 32 (NAME_MAX_CHARS).
AUTHOR_MAX_CHARS = 150
ROOM_RULE = "Use 1 to 64 lower-case letters, digits, hyphens (-) or underscores (_)."
# The model's and the room form's one rule (the sockets check the same pattern, shared.protocol).
ROOM_NAME_VALIDATOR = RegexValidator(rf"\A{ROOM_PATTERN.pattern}\Z", ROOM_RULE)


class Room(models.Model):
    name = models.CharField(
        max_length=64,
        unique=True,  # its index serves every lookup by name (pages, sockets, posting)
        validators=[ROOM_NAME_VALIDATOR],
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Moved forward by every message: /chat/ lists rooms by it without scanning messages.
    last_activity_at = models.DateTimeField(default=timezone.now)
    # The `seq` of the room's newest message (0: none yet). Moved forward by every message in
    # the transaction that stores it; the row's lock orders the room's messages (shared/chat.py).
    last_seq = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ("-last_activity_at",)
        indexes = (
            # /chat/: ORDER BY last_activity_at DESC LIMIT n.
            models.Index(fields=["-last_activity_at"], name="room_recent_activity"),
        )

    def __str__(self) -> str:
        return self.name


class Message(models.Model):
    # No index of its own: room_recent_messages starts with room_id and serves the FK's lookups.
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages", db_index=False)
    author = models.CharField(max_length=AUTHOR_MAX_CHARS)
    # False only when `author` is the username of the account that wrote it.
    guest = models.BooleanField(default=True)
    text = models.TextField(max_length=CHAT_TEXT_MAX_CHARS)
    sent_at = models.DateTimeField(default=timezone.now)
    # Its place in its room: 1, 2, 3, ... with no gaps, in the order the messages were committed.
    seq = models.PositiveBigIntegerField(default=0)

    class Meta:
        indexes = (
            # A room's history: WHERE room_id = ? ORDER BY id DESC LIMIT 50.
            models.Index(fields=["room", "-id"], name="room_recent_messages"),
        )
        constraints = (
            # One message per place; its index serves the workers' catch-up (WHERE room_id = ?
            # AND seq > ? ORDER BY seq).
            models.UniqueConstraint(fields=["room", "seq"], name="room_message_seq"),
        )

    def __str__(self) -> str:
        return f"#{self.pk} by {self.author}"


def account_name_key(name: str) -> str:
    """What AccountName stores for a name: the SHA-256 (hex) of its reader's key
    (shared.protocol.name_key), fixed-length so any username fits a unique index."""
    return hashlib.sha256(name_key(name).encode("utf-8", "surrogatepass")).hexdigest()


class AccountName(models.Model):
    """The key of an account's username, unique: two names a reader cannot tell apart ("Alice",
    "ALICE" and its full-width form) cannot both be accounts, and a guest name is checked against
    these in one indexed lookup (shared.identity). Kept in step with the user by a signal."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="account_name")
    key = models.CharField(max_length=64, unique=True)

    def __str__(self) -> str:
        return f"key of {self.user_id}"


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="shared.account_name")
def _keep_account_name(sender, instance, raw: bool = False, **kwargs) -> None:
    """Every save of a user (sign-up, createsuperuser, the admin) writes its key; a key another
    account holds raises IntegrityError, which rolls back the save that made it."""
    if raw:  # loaddata: the fixture carries its own rows
        return
    AccountName.objects.update_or_create(user=instance, defaults={"key": account_name_key(instance.get_username())})


class SharedResult(models.Model):
    """One shared summary of a visit to /private/ (shared/results.py says what is in it and what
    is not); shown at /r/<id>/ until `expires_at`, then deleted (docs/operations.md)."""

    id = models.CharField(primary_key=True, max_length=16)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    server = models.CharField(max_length=255)  # the site's host name, e.g. "ping.example.com"
    browser = models.CharField(max_length=16)  # a family only: "Chrome", "Firefox", ...
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    samples = models.PositiveIntegerField()
    lost = models.PositiveIntegerField()
    loss_percent = models.FloatField()
    min_ms = models.FloatField()
    median_ms = models.FloatField()
    p95_ms = models.FloatField(null=True)  # None below shared.results.P95_MIN_SAMPLES samples
    p99_ms = models.FloatField(null=True)  # None below shared.results.P99_MIN_SAMPLES samples
    max_ms = models.FloatField()
    jitter_ms = models.FloatField(null=True)  # None for a single sample
    histogram = models.JSONField()  # [[low_ms, high_ms, count], ...]
    beyond = models.PositiveIntegerField()  # samples above the last bin (over p99)

    def __str__(self) -> str:
        return f"result {self.id}"
