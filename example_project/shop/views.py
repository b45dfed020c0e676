"""The shop's customer page: place an order and watch its receipt and product sync finish
live in the browser (the celery-actions browser client, no build step)."""

from __future__ import annotations

import json
import uuid

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_POST

from celery_actions.client.identity import enqueued_by
from celery_actions.django.browser import identity_of

from .actions import actions, send_receipt, sync_product
from .models import Customer, Order, Product


@ensure_csrf_cookie
def shop(request: HttpRequest) -> HttpResponse:
    """The products, and a button to order each."""
    products = Product.objects.order_by("supplier_id")[:12]
    return render(request, "shop/shop.html", {"products": products})


@require_POST
def place_order(request: HttpRequest) -> JsonResponse:
    """Create the order; enqueue its receipt and a sync of its product as this visitor,
    so that their browser may follow both (and nobody else's may)."""
    data = json.loads(request.body or b"{}")
    product = Product.objects.get(pk=int(data["product"]))
    email = str(data.get("email") or f"guest-{uuid.uuid4().hex[:6]}@example.com")
    with transaction.atomic():
        customer, _ = Customer.objects.get_or_create(email=email)
        order = Order.objects.create(customer=customer, product=product, amount_cents=1250)
    with enqueued_by(identity_of(request, create=True)):
        receipt = actions.enqueue(send_receipt, {"id": order.pk})
        sync = actions.enqueue(sync_product, {"id": product.pk}, priority="high")
    Order.objects.filter(pk=order.pk).update(receipt_action=receipt.id)
    return JsonResponse({"order": order.pk, "receipt": receipt.id, "sync": sync.id}, status=202)
