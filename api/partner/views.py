"""The partner API (/api/v1/partner/): one view per operation, thin."""

import datetime

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from api import idempotency, presenters, selectors, services, statements
from api.base import ERRORS, IDEMPOTENCY_KEY_PARAMETER, PartnerView
from api.errors import error_detail
from api.exceptions import ApiError
from api.partner import serializers as s
from billing.services import PostingResult

TAG = ["partner"]


def _payment_body(payment) -> dict:
    return s.PaymentSerializer.represent(presenters.partner_payment(payment))


class CategoryListView(PartnerView):
    @extend_schema(
        tags=TAG, operation_id="partner_categories", responses={200: s.CategoryListSerializer, **ERRORS}
    )
    def get(self, request):
        categories = selectors.partner_categories(self.partner)
        return Response(
            s.CategoryListSerializer({"categories": [presenters.category(c) for c in categories]}).data
        )


class BillerListView(PartnerView):
    @extend_schema(
        tags=TAG,
        operation_id="partner_billers",
        parameters=[s.BillerListQuerySerializer],
        responses={200: s.BillerListSerializer, **ERRORS},
    )
    def get(self, request):
        query = s.BillerListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        billers = selectors.partner_billers(self.partner, category=query.validated_data.get("category"))
        return Response(s.BillerListSerializer({"billers": [presenters.biller(b) for b in billers]}).data)


class BillerDetailView(PartnerView):
    @extend_schema(tags=TAG, operation_id="partner_biller", responses={200: s.BillerSerializer, **ERRORS})
    def get(self, request, biller_code: str):
        return Response(
            s.BillerSerializer(presenters.biller(selectors.partner_biller(self.partner, biller_code))).data
        )


class BillEnquiryView(PartnerView):
    @extend_schema(
        tags=TAG,
        operation_id="partner_bill_enquiry",
        summary="Bill enquiry: an account's masked holder name and its open bills",
        responses={200: s.EnquirySerializer, **ERRORS},
    )
    def get(self, request, biller_code: str, account_no: str):
        biller = selectors.partner_biller(self.partner, biller_code)
        account, bills = selectors.account_with_open_bills(biller, account_no)
        return Response(s.EnquirySerializer(presenters.enquiry(biller, account, bills)).data)


class PaymentCreateView(PartnerView):
    @extend_schema(
        tags=TAG,
        operation_id="partner_create_payment",
        summary="Take a payment (idempotent on the Idempotency-Key header)",
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=s.CreatePaymentSerializer,
        responses={201: s.PaymentSerializer, **ERRORS},
    )
    def post(self, request):
        key = idempotency.key_from(request, required=True)
        values = s.CreatePaymentSerializer.validated(request.data)
        clearance = services.check_partner_payment_with_biller(
            partner=self.partner,
            idempotency_key=key,
            biller_code=values["biller_code"],
            account_no=values["account_no"],
            amount=values["amount"],
            periods=values["periods"],
        )

        def take(kept) -> PostingResult:
            return services.take_partner_payment(
                partner=self.partner,
                idempotency_key=key,
                biller_code=values["biller_code"],
                account_no=values["account_no"],
                amount=values["amount"],
                periods=values["periods"],
                partner_ref=values["partner_ref"],
                clearance=clearance,
                kept=kept,
            )

        return idempotency.run_idempotent_posting(
            request,
            scope=request.user.scope,
            key=key,
            post=take,
            answer=lambda payment: _payment_body(selectors.with_allocations(payment)),
            status=status.HTTP_201_CREATED,
        )


class PaymentBatchCreateView(PartnerView):
    @extend_schema(
        tags=TAG,
        operation_id="partner_create_payment_batch",
        summary="Take a batch of payments (批量代收): up to 100, each answered on its own",
        description="Each payment is validated and posted as `POST payments` would post it sent alone with "
        "its own `idempotency_key`; one refused (with its index, code and message) holds back none of the "
        "others. The batch itself is idempotent on the Idempotency-Key header. A biller that checks each "
        "payment with its own system is refused per payment (`batch_live_biller`): pay it alone.",
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=s.PaymentBatchSerializer,
        responses={200: s.PaymentBatchResultSerializer, **ERRORS},
    )
    def post(self, request):
        key = idempotency.key_from(request, required=True)
        checked = [_batch_item(item) for item in s.PaymentBatchSerializer.items(request.data)]

        def handle() -> Response:
            valid = [values for values in checked if not isinstance(values, Exception)]
            taken = iter(services.take_partner_payments(partner=self.partner, payments=valid))
            results = [values if isinstance(values, Exception) else next(taken) for values in checked]
            return Response(_batch_body(results))

        return idempotency.run_idempotent(request, scope=request.user.scope, key=key, handler=handle)


def _batch_item(item) -> dict | ValidationError:
    """One payment of a batch validated as a single payment's body is, or its validation error."""
    try:
        return s.BatchPaymentSerializer.validated(item)
    except ValidationError as invalid:
        return invalid


def _batch_body(results: list) -> dict:
    """The batch's answer: each payment's outcome in its place, and how many of each there were."""
    selectors.with_allocations_of([result.payment for result in results if isinstance(result, PostingResult)])
    answers = []
    for index, result in enumerate(results):
        if isinstance(result, PostingResult):
            outcome = "replayed" if result.replayed else "posted"
            answers.append({"index": index, "status": outcome, "payment": _payment_body(result.payment)})
        else:
            answers.append({"index": index, "status": "refused", "error": error_detail(result)})
    counts = dict.fromkeys(("posted", "replayed", "refused"), 0)
    for answer in answers:
        counts[answer["status"]] += 1
    return {"payments": answers, "counts": counts}


class AgentPaymentCreateView(PartnerView):
    @extend_schema(
        tags=TAG,
        operation_id="partner_create_agent_payment",
        summary="An agent app: take a payment out of an agent's float (idempotent on the Idempotency-Key)",
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=s.CreateAgentPaymentSerializer,
        responses={201: s.AgentPaymentSerializer, **ERRORS},
    )
    def post(self, request):
        key = idempotency.key_from(request, required=True)
        data = s.CreateAgentPaymentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data

        def handle() -> Response:
            taken = services.take_agent_app_payment(partner=self.partner, idempotency_key=key, **values)
            agent_payment = taken.agent_payment
            agent_payment.payment = selectors.with_allocations(agent_payment.payment)
            return Response(
                s.AgentPaymentSerializer(presenters.agent_payment(agent_payment)).data,
                status=status.HTTP_201_CREATED,
            )

        return idempotency.run_idempotent(request, scope=request.user.scope, key=key, handler=handle)


class PaymentDetailView(PartnerView):
    @extend_schema(
        tags=TAG, operation_id="partner_payment_status", responses={200: s.PaymentSerializer, **ERRORS}
    )
    def get(self, request, receipt_no: str):
        return Response(_payment_body(selectors.partner_payment(self.partner, receipt_no)))


class PaymentReversalView(PartnerView):
    @extend_schema(
        tags=TAG,
        operation_id="partner_reverse_payment",
        summary="Reverse a payment taken today (same business day only)",
        request=s.ReversalSerializer,
        responses={200: s.PaymentSerializer, **ERRORS},
    )
    def post(self, request, receipt_no: str):
        key = idempotency.key_from(request, required=False)
        data = s.ReversalSerializer(data=request.data)
        data.is_valid(raise_exception=True)

        def handle() -> Response:
            payment = selectors.partner_payment(self.partner, receipt_no)
            services.reverse_partner_payment(
                partner=self.partner,
                payment=payment,
                reason=data.validated_data["reason"],
                reversal_ref=data.validated_data["reversal_ref"],
            )
            return Response(_payment_body(selectors.partner_payment(self.partner, receipt_no)))

        return idempotency.run_idempotent(request, scope=request.user.scope, key=key, handler=handle)


class StatementView(PartnerView):
    @extend_schema(
        tags=TAG,
        operation_id="partner_statement",
        summary="The partner's statement of one business day (CSV, docs/statement-format.md)",
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="BILLPAY-STATEMENT v1 CSV"),
            **ERRORS,
        },
    )
    def get(self, request, day: str):
        try:
            business_day = datetime.date.fromisoformat(day)
        except ValueError:
            raise ApiError("validation_failed", fields="day (YYYY-MM-DD)") from None
        if business_day > timezone.localdate():
            raise ApiError("statement_day_invalid", day=day)
        text = statements.partner_statement(self.partner, business_day)
        response = HttpResponse(text.encode(), content_type="text/csv; charset=utf-8")
        filename = f"billpay-{self.partner.code}-{business_day:%Y%m%d}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
