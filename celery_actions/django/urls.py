"""Mount the Queues dashboard and the browser API:
``path("actions/", include("celery_actions.django.urls"))`` (namespace ``celery_actions``).
"""

from django.urls import path

from . import browser, views

app_name = "celery_actions"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("queues/", views.queues, name="queues"),
    path("list/", views.action_list, name="list"),
    path("action/", views.action_detail, name="action"),
    path("confirm/", views.confirm, name="confirm"),
    path("operate/", views.operate_view, name="operate"),
    path("live/", views.live, name="live"),
    path("static/<str:name>", views.static, name="static"),
    path("api/openapi.json", browser.openapi, name="openapi"),
    path("api/enqueue/<str:action>", browser.enqueue, name="enqueue"),
    path("api/enqueue-many/<str:action>", browser.enqueue_many, name="enqueue-many"),
    path("api/actions/<str:action_id>", browser.status, name="status"),
    path("api/actions/<str:action_id>/result", browser.result, name="result"),
    path("api/actions/<str:action_id>/events", browser.events, name="events"),
    path("api/actions/<str:action_id>/cancel", browser.cancel, name="cancel"),
]
