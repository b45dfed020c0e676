"""The shop: the customer page (/), the admin (/admin/), the Queues dashboard and the
browser API (/actions/)."""

from django.contrib import admin
from django.contrib.auth.views import LoginView
from django.urls import include, path

from example_project.shop import views

urlpatterns = [
    path("", views.shop, name="shop"),
    path("shop/order", views.place_order, name="place-order"),
    path("login/", LoginView.as_view(template_name="admin/login.html"), name="login"),
    path("admin/", admin.site.urls),
    path("actions/", include("celery_actions.django.urls")),
]
