from django.contrib import admin
from django.urls import path

from web.views import health, pages

urlpatterns = [
    path("", pages.home, name="home"),
    path("private/", pages.private, name="private"),
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
