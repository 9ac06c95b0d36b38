"""What the partner and biller APIs show of a dispute, and the shared serializers (disputes.taxonomy)."""

from rest_framework import serializers

from disputes import services as dispute_services
from disputes import taxonomy


class DisputeSerializer(serializers.Serializer):
    ref = serializers.CharField()
    reason = serializers.ChoiceField(choices=list(taxonomy.BY_CODE))
    reason_label = serializers.CharField()
    category = serializers.ChoiceField(choices=taxonomy.Category.values)
    answered_by = serializers.ChoiceField(choices=taxonomy.Answerer.values)
    channel = serializers.CharField()
    status = serializers.ChoiceField(choices=["open", "escalated", "resolved", "closed"])
    outcome = serializers.CharField(allow_blank=True)
    answer = serializers.CharField(allow_blank=True)
    receipt_no = serializers.CharField(allow_blank=True)
    resolution_receipt_no = serializers.CharField(allow_blank=True)
    biller_code = serializers.CharField()
    account_no = serializers.CharField(allow_blank=True)
    channel_ref = serializers.CharField(allow_blank=True)
    amount = serializers.CharField(allow_null=True)
    refund_state = serializers.ChoiceField(choices=["", "pending", "refunded"], allow_blank=True)
    refund_ref = serializers.CharField(allow_blank=True)
    refund_amount = serializers.CharField(allow_null=True)
    raised_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)


class DisputeListSerializer(serializers.Serializer):
    disputes = DisputeSerializer(many=True)


class ReasonSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()
    category = serializers.CharField()
    answered_by = serializers.CharField()
    working_days = serializers.IntegerField()
    needs_receipt_no = serializers.BooleanField()


class ReasonListSerializer(serializers.Serializer):
    reasons = ReasonSerializer(many=True)


def dispute(dispute) -> dict:
    body = dispute_services.event_payload(dispute)
    body.pop("partner_code")
    return {**body, "reason_label": str(dispute.get_reason_display())}


def reasons() -> dict:
    return {
        "reasons": [
            {
                "code": r.code,
                "label": str(r.label),
                "category": r.category,
                "answered_by": r.answerer,
                "working_days": r.working_days,
                "needs_receipt_no": r.needs_payment,
            }
            for r in taxonomy.REASONS
        ]
    }
