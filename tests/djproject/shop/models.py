from __future__ import annotations

from django.db import models


class Customer(models.Model):
    email = models.EmailField()

    def __str__(self) -> str:
        return self.email


class Order(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="orders")
    status = models.CharField(max_length=20, default="new")
    carrier = models.CharField(max_length=20, blank=True, default="")
    shipments = models.PositiveIntegerField(default=0)
    receipt_action = models.CharField(max_length=64, blank=True, default="")

    def __str__(self) -> str:
        return f"order {self.pk}"
