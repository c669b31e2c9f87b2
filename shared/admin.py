"""Django admin for chat: rooms and their messages, for moderation."""

from django.contrib import admin

from shared.models import Message, Room


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ("name", "last_activity_at", "created_at")
    search_fields = ("name",)
    readonly_fields = ("created_at",)


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "sent_at", "room", "author", "guest", "excerpt")
    list_filter = ("guest",)
    list_select_related = ("room",)
    search_fields = ("author", "text", "room__name")
    # A select of every room would not scale; the id field with a lookup popup does.
    raw_id_fields = ("room",)
    ordering = ("-id",)

    @admin.display(description="text")
    def excerpt(self, message: Message) -> str:
        return message.text if len(message.text) <= 80 else f"{message.text[:79]}…"
