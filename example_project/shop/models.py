"""The shop's data: products synced from the supplier, customers, their orders."""

from __future__ import annotations

from django.db import models


class Product(models.Model):
    """A product; ``sync_product`` fills in name and stock from the supplier API."""

    supplier_id = models.PositiveIntegerField(unique=True)
    name = models.CharField(max_length=100, blank=True, default="")
    stock = models.IntegerField(null=True, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name or f"product {self.supplier_id}"


class Customer(models.Model):
    email = models.EmailField(unique=True)

    def __str__(self) -> str:
        return self.email


class Order(models.Model):
    """An order; its receipt email is enqueued inside the transaction that creates it."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="orders")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="orders")
    amount_cents = models.PositiveIntegerField()
    receipt_action = models.CharField(max_length=64, blank=True, default="")
    """The id of the receipt email's action (known before the transaction commits)."""
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"order {self.pk}"
