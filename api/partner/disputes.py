"""The partner API's disputes (/api/v1/partner/disputes): raise one with a D-code on the partner's own
payment (or, D11, on its own debit that made no payment), read its status, close it. Thin: the rules are
in disputes.services; a payment of another partner is refused as unknown and nothing is written."""

from django.utils import translation
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from api import disputes as presenters
from api import idempotency
from api.base import ERRORS, IDEMPOTENCY_KEY_PARAMETER, PartnerView
from api.partner.serializers import AmountField
from disputes import selectors, services, taxonomy
from disputes.choices import DisputeChannel

TAG = ["partner"]


class RaiseDisputeSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=list(taxonomy.BY_CODE))
    receipt_no = serializers.CharField(max_length=32, required=False, default="")
    biller_code = serializers.CharField(max_length=32, required=False, default="")
    account_no = serializers.CharField(max_length=40, required=False, default="")
    amount = AmountField(required=False, default=None, allow_null=True)
    channel_ref = serializers.CharField(max_length=64, required=False, default="")
    details = serializers.CharField(max_length=4000, required=False, default="", allow_blank=True)
    contact_phone = serializers.CharField(max_length=30, required=False, default="", allow_blank=True)
    contact_email = serializers.EmailField(required=False, default="", allow_blank=True)


class CloseDisputeSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
    # Your refund's reference, when the platform asked you to return a D11 debit (outcome
    # refund_required): the dispute closes as refunded.
    refund_ref = serializers.CharField(max_length=64, required=False, default="", allow_blank=True)


class DisputeReasonsView(PartnerView):
    @extend_schema(
        tags=TAG,
        operation_id="partner_dispute_reasons",
        summary="The dispute reason codes (D-codes), their labels in the request's language, who answers",
        responses={200: presenters.ReasonListSerializer, **ERRORS},
    )
    def get(self, request):
        return Response(presenters.ReasonListSerializer(presenters.reasons()).data)


class DisputeRaiseView(PartnerView):
    @extend_schema(
        tags=TAG,
        operation_id="partner_raise_dispute",
        summary="Raise a dispute (idempotent on the Idempotency-Key header)",
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=RaiseDisputeSerializer,
        responses={201: presenters.DisputeSerializer, **ERRORS},
    )
    def post(self, request):
        key = idempotency.key_from(request, required=True)
        data = RaiseDisputeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data

        def handle() -> Response:
            dispute = services.raise_dispute(
                channel=DisputeChannel.PARTNER,
                source=self.partner.code,
                idempotency_key=key,
                language=translation.get_language(),
                **values,
            )
            return Response(
                presenters.DisputeSerializer(presenters.dispute(dispute)).data, status=status.HTTP_201_CREATED
            )

        return idempotency.run_idempotent(request, scope=request.user.scope, key=key, handler=handle)


class DisputeDetailView(PartnerView):
    @extend_schema(
        tags=TAG,
        operation_id="partner_dispute_status",
        responses={200: presenters.DisputeSerializer, **ERRORS},
    )
    def get(self, request, ref: str):
        dispute = selectors.dispute_raised_by(DisputeChannel.PARTNER, ref, source=self.partner.code)
        return Response(presenters.DisputeSerializer(presenters.dispute(dispute)).data)


class DisputeCloseView(PartnerView):
    @extend_schema(
        tags=TAG,
        operation_id="partner_close_dispute",
        summary="Close a dispute: withdrawn while open, accepted once resolved",
        request=CloseDisputeSerializer,
        responses={200: presenters.DisputeSerializer, **ERRORS},
    )
    def post(self, request, ref: str):
        data = CloseDisputeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dispute = selectors.dispute_raised_by(DisputeChannel.PARTNER, ref, source=self.partner.code)
        dispute = services.close_dispute(
            dispute=dispute, note=data.validated_data["note"], refund_ref=data.validated_data["refund_ref"]
        )
        dispute = selectors.dispute_raised_by(DisputeChannel.PARTNER, ref, source=self.partner.code)
        return Response(presenters.DisputeSerializer(presenters.dispute(dispute)).data)
