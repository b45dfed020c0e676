"""The admin is the shop's only page: /admin/ (actions, outbox, "Run sync_product")."""

from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
