"""Audit history in the admin: every staff change made in the back-office is an AuditEvent (who, when,
what changed, from what to what), and each object's "History" page lists the AuditEvents about it —
those the admin wrote and those the services wrote (onboarding steps, imports, reversals)."""

from __future__ import annotations

from django.template.response import TemplateResponse

from billing.audit import record_audit
from billing.models import AuditEvent

HIDDEN_FIELDS = {"password", "secret"}


def _display(value) -> str:
    if value is None:
        return ""
    if hasattr(value, "all"):  # a many-to-many manager
        return ", ".join(sorted(str(item) for item in value.all()))
    return str(value)


class AuditedAdminMixin:
    """Records an AuditEvent for each add, change and delete made through this admin, with the changed
    fields' old and new values (never a password), and shows the object's events as its history."""

    object_history_template = "billing/admin/object_history.html"

    def _snapshot(self, obj, names) -> dict[str, str]:
        values = {}
        for name in names:
            if name in HIDDEN_FIELDS:
                values[name] = "***"
                continue
            try:
                values[name] = _display(getattr(obj, name))
            except (AttributeError, ValueError):
                continue
        return values

    def save_model(self, request, obj, form, change):
        changed = [name for name in form.changed_data if name in form.fields]
        before = {}
        if change and obj.pk:
            original = type(obj)._default_manager.filter(pk=obj.pk).first()
            before = self._snapshot(original, changed) if original else {}
        super().save_model(request, obj, form, change)
        self._pending_audit = (obj, change, changed, before)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        pending = getattr(self, "_pending_audit", None)
        if pending is None:
            return
        obj, change, changed, before = pending
        self._pending_audit = None
        after = self._snapshot(obj, changed)
        if change and not changed:
            return
        record_audit(
            actor=request.user,
            action=f"admin.{'changed' if change else 'added'}",
            target=obj,
            reason=request.POST.get("_audit_reason", "")[:500],
            changes={name: [before.get(name, ""), after.get(name, "")] for name in changed},
        )

    def delete_model(self, request, obj):
        record_audit(actor=request.user, action="admin.deleted", target=obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            record_audit(actor=request.user, action="admin.deleted", target=obj)
        super().delete_queryset(request, queryset)

    def history_view(self, request, object_id, extra_context=None):
        response = super().history_view(request, object_id, extra_context)
        if isinstance(response, TemplateResponse) and response.context_data.get("object") is not None:
            obj = response.context_data["object"]
            response.context_data["audit_events"] = AuditEvent.objects.filter(
                target_type=obj._meta.label_lower, target_id=str(obj.pk)
            ).select_related("actor")
        return response
