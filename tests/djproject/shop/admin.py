from django.contrib import admin

from celery_actions.django.admin import ModelActionsAdmin

from .models import Customer, Order


@admin.register(Order)
class OrderAdmin(ModelActionsAdmin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "status", "carrier")


admin.site.register(Customer)
