from django.contrib import admin

from celery_actions.django.admin import ModelActionsAdmin

from .models import Customer, Order, Product


@admin.register(Product)
class ProductAdmin(ModelActionsAdmin, admin.ModelAdmin):
    """ "Run sync_product on selected" is offered in the actions menu."""

    list_display = ("supplier_id", "name", "stock", "synced_at")


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("id", "customer", "product", "amount_cents", "receipt_action", "created_at")


admin.site.register(Customer)
