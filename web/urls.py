from django.contrib import admin
from django.urls import path

from web import views

urlpatterns = [
    path("", views.home, name="home"),
    path("private/", views.private, name="private"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
