"""``manage.py shop_seed [--operator NAME:PASSWORD] [--customer NAME:PASSWORD]``: the
shop's products, and users to try the pages with (an operator of the Queues dashboard,
customers)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission, User
from django.core.management.base import BaseCommand, CommandParser

from example_project.shop.models import Product

TEAS = ("Sencha", "Assam", "Darjeeling", "Rooibos", "Oolong", "Earl Grey")


class Command(BaseCommand):
    help = "Create the shop's products and users to try it with."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--operator", action="append", default=[], help="NAME:PASSWORD")
        parser.add_argument("--viewer", action="append", default=[], help="NAME:PASSWORD")
        parser.add_argument("--customer", action="append", default=[], help="NAME:PASSWORD")

    def handle(self, *args: Any, **options: Any) -> None:
        for number, name in enumerate(TEAS, start=1):
            Product.objects.get_or_create(supplier_id=number, defaults={"name": name})
        perms = {
            "operator": ["view_actionrecord", "operate_actionrecord"],
            "viewer": ["view_actionrecord"],
            "customer": [],
        }
        for kind, codenames in perms.items():
            for spec in options[kind]:
                name, _, password = spec.partition(":")
                user, _ = User.objects.get_or_create(username=name)
                user.set_password(password)
                user.is_staff = kind != "customer"
                user.save()
                for codename in codenames:
                    user.user_permissions.add(Permission.objects.get(codename=codename))
        self.stdout.write(f"{Product.objects.count()} products")
