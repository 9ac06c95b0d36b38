"""The audit trail: every service that changes domain state records who, what, when and why here."""

from django.db import models

from billing.models import AuditEvent


def record_audit(*, actor, action: str, target: models.Model, reason: str = "", **data: object) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        target_repr=str(target)[:200],
        reason=reason[:500],
        data={key: str(value) for key, value in data.items()},
    )
