from django.contrib import admin
from django.urls import path

from web.views import chat, health, pages, public

urlpatterns = [
    path("", pages.home, name="home"),
    path("private/", pages.private, name="private"),
    path("public/", public.public, name="public"),
    path("api/public/", public.public_api, name="public-api"),
    path("chat/", chat.rooms, name="chat"),
    path("chat/<str:room>/", chat.room, name="chat-room"),
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
