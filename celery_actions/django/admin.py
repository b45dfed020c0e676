"""The admin: action records (read-only), the outbox (read-only), and model actions as
admin actions ("Run <action> on selected").

Action records live in Redis: the "actions" page lists the newest of them (at most
``LIST_LIMIT``, read from the indexes, filterable by status and action, with a link to
the Queues dashboard) with their
status, queue, attempts and error, and shows one record in full. Nothing can be edited.

Add :class:`ModelActionsAdmin` to a model's admin to get, for each model action of that
model whose other params all have defaults, an admin action that enqueues it for the
selected records in bulk (``enqueue_many`` over the selection).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse

from ..client.info import ActionInfo
from ..core.protocol import ActionStatus
from ..redis.listing import ActionFilter, ActionIndex
from .conf import get_actions
from .model_actions import model_actions_of, takes_only_the_record
from .models import ActionRecord, OutboxEntry

LIST_LIMIT = 200


class ReadOnlyAdmin(admin.ModelAdmin):
    """Browse, never change."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(OutboxEntry)
class OutboxEntryAdmin(ReadOnlyAdmin):
    """Actions enqueued in a transaction and not yet cleared by a pump."""

    list_display = ("id", "action", "batch", "seq", "created_at")
    list_filter = ("action",)
    search_fields = ("id", "batch")
    ordering = ("-created_at",)


def recent_records(status: str = "", action: str = "") -> list[ActionInfo]:
    """The newest records, optionally of one status and action (from the indexes)."""
    statuses = tuple(s for s in ActionStatus if s.value == status)
    f = ActionFilter(statuses, action)
    page = ActionIndex(get_actions().runtime.store).page(f, size=LIST_LIMIT)
    return [ActionInfo.from_record(row.record) for row in page.rows]


def dashboard_url() -> str:
    """Where the Queues dashboard is mounted ('' when it is not)."""
    try:
        return reverse("celery_actions:overview")
    except NoReverseMatch:
        return ""


@admin.register(ActionRecord)
class ActionRecordAdmin(ReadOnlyAdmin):
    """Action records from Redis, read-only."""

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_or_change_permission(request):
            raise Http404
        status = request.GET.get("status", "")
        action = request.GET.get("action", "")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Actions",
            "records": recent_records(status, action),
            "statuses": [s.value for s in ActionStatus],
            "status": status,
            "action": action,
            "limit": LIST_LIMIT,
            "dashboard_url": dashboard_url(),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "celery_actions/admin/action_list.html", context)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if not self.has_view_or_change_permission(request):
            raise Http404
        record = get_actions().runtime.store.record(object_id)
        if record is None:
            raise Http404(f"no action {object_id!r}")
        info = ActionInfo.from_record(record)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Action {object_id}",
            "info": info,
            "fields": [(name, getattr(info, name)) for name in info.__dataclass_fields__],
            **(extra_context or {}),
        }
        return TemplateResponse(request, "celery_actions/admin/action_detail.html", context)


AdminAction = Callable[[admin.ModelAdmin, HttpRequest, Any], None]


def run_on_selected(task: Any) -> AdminAction:
    """An admin action that enqueues the model action ``task`` for the selected records."""

    def run(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: Any) -> None:
        handles = get_actions().enqueue_many(task, queryset)
        modeladmin.message_user(
            request,
            f"Enqueued {task.name.rpartition('.')[2]} for {len(handles)} record(s) "
            f"(ids {handles.base}-0..{len(handles) - 1}).",
            messages.SUCCESS,
        )

    return run


class ModelActionsAdmin(admin.ModelAdmin):
    """Adds "Run <action> on selected" for each model action of the admin's model, for
    users who may change its records (an action changes data: view is not enough)."""

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict[str, Any]:
        # Django 6.1 passes where the actions show (``action_location``); before, nothing.
        if action_location is None:
            found = super().get_actions(request)
        else:
            found = super().get_actions(request, action_location=action_location)
            if getattr(action_location, "name", "CHANGE_LIST") != "CHANGE_LIST":
                return found
        if not self.has_change_permission(request):
            return found
        for task in model_actions_of(get_actions(), self.model):
            if not takes_only_the_record(task):
                continue
            label = task.name.rpartition(".")[2]
            name = f"run_{task.name.replace('.', '_')}"
            found[name] = (run_on_selected(task), name, f"Run {label} on selected")
        return found
