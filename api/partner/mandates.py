"""The partner API's auto-pay mandates (/api/v1/partner/mandates): a partner sets one up for its own customer
(named by its `customer_ref`) and is the funding source of every debit. Thin: the rules are in
payers.mandates, reached through api.services; another partner's mandate is unknown and nothing is written."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from api import idempotency, presenters, selectors, services
from api.base import ERRORS, IDEMPOTENCY_KEY_PARAMETER, PartnerView
from api.partner.serializers import AmountField
from payers.choices import DebitStatus, MandateStatus

TAG = ["partner"]
CUSTOMER_REF_PATTERN = r"^[\x21-\x7e]{1,64}$"


class CreateMandateSerializer(serializers.Serializer):
    biller_code = serializers.CharField(max_length=32)
    account_no = serializers.CharField(max_length=40)
    customer_ref = serializers.RegexField(
        CUSTOMER_REF_PATTERN,
        help_text="The partner's own opaque reference of its customer (1-64 characters).",
    )
    cap_per_bill = AmountField()
    valid_from = serializers.DateField()
    valid_until = serializers.DateField()
    notice_days = serializers.IntegerField(min_value=0, max_value=60)


class ChangeMandateSerializer(serializers.Serializer):
    cap_per_bill = AmountField(required=False)
    valid_until = serializers.DateField(required=False)
    notice_days = serializers.IntegerField(min_value=0, max_value=60, required=False)


class MandateListQuerySerializer(serializers.Serializer):
    customer_ref = serializers.RegexField(CUSTOMER_REF_PATTERN, required=False)


class MandateSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    customer_ref = serializers.CharField()
    biller_code = serializers.CharField()
    account_no = serializers.CharField()
    cap_per_bill = serializers.CharField()
    valid_from = serializers.DateField()
    valid_until = serializers.DateField()
    notice_days = serializers.IntegerField()
    status = serializers.ChoiceField(choices=MandateStatus.values)
    created_at = serializers.DateTimeField()


class MandateListSerializer(serializers.Serializer):
    mandates = MandateSerializer(many=True)


class MandateDebitSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    period = serializers.CharField()
    amount = serializers.CharField()
    debit_on = serializers.DateField()
    status = serializers.ChoiceField(choices=DebitStatus.values)
    attempts = serializers.IntegerField()
    code = serializers.CharField(allow_blank=True, help_text="Why it was not debited, if it was not.")
    message = serializers.CharField(allow_blank=True)
    receipt_no = serializers.CharField(allow_blank=True)


class MandateDebitListSerializer(serializers.Serializer):
    debits = MandateDebitSerializer(many=True)


def _mandate_body(mandate) -> dict:
    return MandateSerializer(presenters.partner_mandate(mandate)).data


def _write(request, handler) -> Response:
    """Every write: signed, with its Idempotency-Key, in one transaction with its idempotency record."""
    key = idempotency.key_from(request, required=True)
    return idempotency.run_idempotent(request, scope=request.user.scope, key=key, handler=handler)


class MandateListCreateView(PartnerView):
    @extend_schema(
        tags=TAG,
        operation_id="partner_mandates",
        summary="The partner's auto-pay mandates, newest first (one customer's with ?customer_ref=)",
        parameters=[MandateListQuerySerializer],
        responses={200: MandateListSerializer, **ERRORS},
    )
    def get(self, request):
        query = MandateListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        mandates = selectors.partner_mandates(
            self.partner, customer_ref=query.validated_data.get("customer_ref", "")
        )[:200]
        return Response(
            MandateListSerializer({"mandates": [presenters.partner_mandate(m) for m in mandates]}).data
        )

    @extend_schema(
        tags=TAG,
        operation_id="partner_create_mandate",
        summary="Auto-pay for a customer's account, paid by the partner (idempotent on Idempotency-Key)",
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=CreateMandateSerializer,
        responses={201: MandateSerializer, **ERRORS},
    )
    def post(self, request):
        data = CreateMandateSerializer(data=request.data)
        data.is_valid(raise_exception=True)

        def handle() -> Response:
            mandate = services.create_partner_mandate(partner=self.partner, **data.validated_data)
            return Response(_mandate_body(mandate), status=status.HTTP_201_CREATED)

        return _write(request, handle)


class MandateDetailView(PartnerView):
    @extend_schema(tags=TAG, operation_id="partner_mandate", responses={200: MandateSerializer, **ERRORS})
    def get(self, request, mandate_id: str):
        return Response(_mandate_body(selectors.partner_mandate(self.partner, mandate_id)))

    @extend_schema(
        tags=TAG,
        operation_id="partner_change_mandate",
        summary="Change the cap, the end or the notice days (what is not sent stays)",
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=ChangeMandateSerializer,
        responses={200: MandateSerializer, **ERRORS},
    )
    def patch(self, request, mandate_id: str):
        data = ChangeMandateSerializer(data=request.data)
        data.is_valid(raise_exception=True)

        def handle() -> Response:
            mandate = services.change_partner_mandate(
                partner=self.partner, mandate_id=mandate_id, changes=dict(data.validated_data)
            )
            return Response(_mandate_body(mandate))

        return _write(request, handle)


class MandateActionView(PartnerView):
    """pause, resume and cancel: one view per action so that each is its own operation in the schema."""

    action_name = ""

    def post(self, request, mandate_id: str):
        def handle() -> Response:
            mandate = services.set_partner_mandate_status(
                partner=self.partner, mandate_id=mandate_id, action=self.action_name
            )
            return Response(_mandate_body(mandate))

        return _write(request, handle)


def _action_view(name: str, summary: str):
    schema = extend_schema(
        tags=TAG,
        operation_id=f"partner_{name}_mandate",
        summary=summary,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=None,
        responses={200: MandateSerializer, **ERRORS},
    )

    def post(self, request, mandate_id: str):  # its own function: the schema is kept on the function
        return MandateActionView.post(self, request, mandate_id)

    return type(
        f"Mandate{name.title()}View", (MandateActionView,), {"action_name": name, "post": schema(post)}
    )


MandatePauseView = _action_view("pause", "Pause: no debits until resumed")
MandateResumeView = _action_view("resume", "Resume a paused mandate (an ended one expires instead)")
MandateCancelView = _action_view("cancel", "Cancel for good: scheduled debits are not made")


class MandateDebitListView(PartnerView):
    @extend_schema(
        tags=TAG,
        operation_id="partner_mandate_debits",
        summary="The mandate's debits, latest first: scheduled, paid, skipped or why not debited",
        responses={200: MandateDebitListSerializer, **ERRORS},
    )
    def get(self, request, mandate_id: str):
        mandate = selectors.partner_mandate(self.partner, mandate_id)
        debits = selectors.mandate_debits(mandate)
        return Response(
            MandateDebitListSerializer({"debits": [presenters.mandate_debit(d) for d in debits]}).data
        )


class MandateDebitSkipView(PartnerView):
    @extend_schema(
        tags=TAG,
        operation_id="partner_skip_mandate_debit",
        summary="Skip one scheduled debit: the customer pays that bill another way",
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=None,
        responses={200: MandateDebitSerializer, **ERRORS},
    )
    def post(self, request, mandate_id: str, debit_id: str):
        def handle() -> Response:
            debit = services.skip_partner_mandate_debit(
                partner=self.partner, mandate_id=mandate_id, debit_id=debit_id
            )
            return Response(MandateDebitSerializer(presenters.mandate_debit(debit)).data)

        return _write(request, handle)
