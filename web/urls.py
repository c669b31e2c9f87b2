from django.contrib import admin
from django.urls import path

from web.views import accounts, chat, health, pages, public, results, users

urlpatterns = [
    path("", pages.home, name="home"),
    path("private/", pages.private, name="private"),
    path("public/", public.public, name="public"),
    path("api/public/", public.public_api, name="public-api"),
    path("r/", results.share, name="share-result"),
    path("r/<slug:result_id>/", results.result_page, name="result"),
    path("r/<slug:result_id>.json", results.result_json, name="result-json"),
    path("chat/", chat.rooms, name="chat"),
    path("chat/<str:room>/", chat.room, name="chat-room"),
    path("chat/<str:room>/name/", chat.room_name, name="chat-name"),
    path("accounts/signup/", accounts.sign_up, name="signup"),
    path("accounts/login/", accounts.sign_in, name="login"),
    path("accounts/logout/", accounts.sign_out, name="logout"),
    path("users/", users.users, name="users"),
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]

# The site's own error pages (DEBUG off): web/views/errors.py.
handler400 = "web.views.errors.bad_request"
handler404 = "web.views.errors.not_found"
handler403 = "web.views.errors.forbidden"
handler500 = "web.views.errors.server_error"
