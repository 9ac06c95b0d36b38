"""The biller API (/api/v1/biller/): push bills, cancel a bill, list payments after a cursor."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from api import idempotency, presenters, selectors, services
from api.base import ERRORS, IDEMPOTENCY_KEY_SCHEMA, BillerView
from api.biller import serializers as s

TAG = ["biller"]
OPTIONAL_KEY = OpenApiParameter(
    "Idempotency-Key",
    IDEMPOTENCY_KEY_SCHEMA,
    OpenApiParameter.HEADER,
    required=False,
    description="Recommended for retries.",
)


class PushBillsView(BillerView):
    @extend_schema(
        tags=TAG,
        operation_id="biller_push_bills",
        summary="Push a batch of bills: the same checks and upsert as the bill import",
        parameters=[OPTIONAL_KEY],
        request=s.PushBillsDocSerializer,
        responses={200: s.ImportReportSerializer, **ERRORS},
    )
    def post(self, request):
        key = idempotency.key_from(request, required=False)
        data = s.PushBillsSerializer(data=request.data)
        data.is_valid(raise_exception=True)

        def handle() -> Response:
            report = services.push_bills(
                access=self.biller_access,
                rows=data.validated_data["bills"],
                partial=data.validated_data["partial"],
            )
            return Response(s.ImportReportSerializer(presenters.import_report(report)).data)

        return idempotency.run_idempotent(request, scope=request.user.scope, key=key, handler=handle)


class CancelBillView(BillerView):
    @extend_schema(
        tags=TAG,
        operation_id="biller_cancel_bill",
        parameters=[OPTIONAL_KEY],
        request=s.CancelBillSerializer,
        responses={200: s.BillSerializer, **ERRORS},
    )
    def post(self, request, account_no: str, period: str):
        key = idempotency.key_from(request, required=False)
        data = s.CancelBillSerializer(data=request.data)
        data.is_valid(raise_exception=True)

        def handle() -> Response:
            bill = selectors.biller_bill(self.biller_access.biller, account_no, period)
            bill = services.cancel_biller_bill(bill=bill, reason=data.validated_data["reason"])
            return Response(s.BillSerializer(presenters.biller_bill(bill)).data)

        return idempotency.run_idempotent(request, scope=request.user.scope, key=key, handler=handle)


class OfferInstalmentsView(BillerView):
    @extend_schema(
        tags=TAG,
        operation_id="biller_offer_instalments",
        summary="Offer an unpaid bill in instalments, each with its amount and due date",
        parameters=[OPTIONAL_KEY],
        request=s.OfferInstalmentsSerializer,
        responses={200: s.BillWithInstalmentsSerializer, **ERRORS},
    )
    def post(self, request, account_no: str, period: str):
        key = idempotency.key_from(request, required=False)
        data = s.OfferInstalmentsSerializer(data=request.data)
        data.is_valid(raise_exception=True)

        def handle() -> Response:
            bill = selectors.biller_bill(self.biller_access.biller, account_no, period)
            bill = services.offer_biller_instalments(
                bill=bill, parts=data.validated_data["instalments"], reason=data.validated_data["reason"]
            )
            return Response(s.BillWithInstalmentsSerializer(presenters.bill_with_instalments(bill)).data)

        return idempotency.run_idempotent(request, scope=request.user.scope, key=key, handler=handle)


class PaymentListView(BillerView):
    @extend_schema(
        tags=TAG,
        operation_id="biller_payments",
        summary="The biller's payments in the order they were posted, after a cursor",
        parameters=[s.PaymentsQuerySerializer],
        responses={200: s.PaymentPageSerializer, **ERRORS},
    )
    def get(self, request):
        query = s.PaymentsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        payments, next_cursor, has_more = selectors.biller_payments_after(
            self.biller_access.biller,
            cursor=query.validated_data.get("after"),
            limit=query.validated_data["limit"],
        )
        return Response(
            s.PaymentPageSerializer(
                {
                    "payments": [presenters.biller_payment(p) for p in payments],
                    "next_cursor": next_cursor,
                    "has_more": has_more,
                }
            ).data
        )


class ReceiptView(BillerView):
    @extend_schema(
        tags=TAG,
        operation_id="biller_receipt",
        summary="The receipt (and e-receipt) of any payment to the biller, whichever channel took it",
        responses={200: s.BillerReceiptSerializer, **ERRORS},
    )
    def get(self, request, receipt_no: str):
        payment, e_receipt = selectors.biller_receipt(self.biller_access.biller, receipt_no)
        body = presenters.biller_receipt(payment, e_receipt=e_receipt)
        for key in ("url", "verification_url"):
            body["e_receipt"][key] = request.build_absolute_uri(body["e_receipt"][key])
        return Response(s.BillerReceiptSerializer(body).data)


class CardWriteView(BillerView):
    @extend_schema(
        tags=TAG,
        operation_id="biller_card_write",
        summary="Confirm that a held top-up was written to the card, or that the write failed",
        description=(
            "A top-up to a biller whose payments must reach a card or meter is held until this call: "
            "`written` makes it owed to the biller (and settled); `failed` voids it and refunds the payer. "
            "The same answer again returns the same result; the opposite answer after either is refused "
            "(409). Unanswered top-ups are voided after the biller's timeout."
        ),
        parameters=[OPTIONAL_KEY],
        request=s.CardWriteResultSerializer,
        responses={200: s.BillerTopUpSerializer, **ERRORS},
    )
    def post(self, request, receipt_no: str):
        key = idempotency.key_from(request, required=False)
        data = s.CardWriteResultSerializer(data=request.data)
        data.is_valid(raise_exception=True)

        def handle() -> Response:
            payment = selectors.biller_topup(self.biller_access.biller, receipt_no)
            payment = services.record_biller_card_write(
                payment=payment,
                written=data.validated_data["result"] == "written",
                write_ref=data.validated_data["write_ref"],
                reason=data.validated_data["reason"],
            )
            return Response(s.BillerTopUpSerializer(presenters.biller_topup(payment)).data)

        return idempotency.run_idempotent(request, scope=request.user.scope, key=key, handler=handle)
