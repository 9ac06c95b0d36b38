"""Small input and output serializers of the biller API."""

from rest_framework import serializers

from api.partner.serializers import AllocationSerializer, CardWriteSerializer, InstalmentSerializer

MAX_BATCH = 1000


class BillRowSerializer(serializers.Serializer):
    """One bill as the bill import reads it (the same columns as the import file). Only described here:
    the rows are checked by `billing.bill_import`, the one validator of bills."""

    account_no = serializers.CharField()
    customer_name = serializers.CharField()
    period = serializers.CharField(help_text="YYYY-MM")
    amount_due = serializers.CharField(help_text='Yuan: "1234.50"')
    due_date = serializers.CharField(help_text="YYYY-MM-DD")
    late_fee = serializers.CharField(required=False)
    reference = serializers.CharField(required=False)
    early_discount = serializers.CharField(
        required=False, help_text='Yuan off when paid in full by discount_until (Beijing): "200.00"'
    )
    discount_until = serializers.CharField(required=False, help_text="YYYY-MM-DD; needed with early_discount")
    beneficiary_kind = serializers.ChoiceField(
        choices=["student", "patient", "resident", "other"],
        required=False,
        help_text="Who the bill is for, when not the account's holder (学生/患者/居民/其他 are read too)",
    )
    beneficiary_name = serializers.CharField(required=False, help_text="Shown masked on public pages")
    notice_no = serializers.CharField(
        required=False, help_text="A payment notice's number (缴款书号), unique per biller; found at lookup"
    )


class PushBillsSerializer(serializers.Serializer):
    bills = serializers.ListField(child=serializers.DictField(), min_length=1)
    partial = serializers.BooleanField(
        default=False,
        help_text="Store the valid rows and report the rest; by default a batch with errors stores nothing.",
    )


class PushBillsDocSerializer(serializers.Serializer):
    bills = BillRowSerializer(many=True)
    partial = serializers.BooleanField(required=False)


class RowErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField()
    column = serializers.CharField(allow_blank=True)
    code = serializers.CharField()
    message = serializers.CharField()


class ImportReportSerializer(serializers.Serializer):
    rows = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    accounts_created = serializers.IntegerField()
    imported = serializers.BooleanField()
    errors = RowErrorSerializer(many=True)


class InstalmentPartSerializer(serializers.Serializer):
    amount = serializers.CharField(help_text='Yuan: "1600.00"')
    due_date = serializers.DateField()


class OfferInstalmentsSerializer(serializers.Serializer):
    instalments = InstalmentPartSerializer(
        many=True,
        min_length=2,
        max_length=12,
        help_text="In order, each due after the one before, adding up to the bill's amount due. Replaces "
        "an earlier plan while nothing is paid; the payer can still pay the whole bill at once.",
    )
    reason = serializers.CharField(max_length=200, required=False, default="")


class BillWithInstalmentsSerializer(serializers.Serializer):
    account_no = serializers.CharField()
    period = serializers.CharField()
    amount_due = serializers.CharField()
    status = serializers.CharField()
    instalments = InstalmentSerializer(many=True)


class CancelBillSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200)


class BillSerializer(serializers.Serializer):
    account_no = serializers.CharField()
    period = serializers.CharField()
    amount_due = serializers.CharField()
    late_fee = serializers.CharField()
    amount_paid = serializers.CharField()
    status = serializers.CharField()
    due_date = serializers.DateField()
    reference = serializers.CharField(allow_blank=True)


class PaymentsQuerySerializer(serializers.Serializer):
    after = serializers.CharField(required=False, max_length=64, help_text="next_cursor of the previous page")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=100)


class BillerPaymentSerializer(serializers.Serializer):
    receipt_no = serializers.CharField()
    channel = serializers.CharField()
    status = serializers.ChoiceField(choices=["posted", "reversed"])
    account_no = serializers.CharField(allow_blank=True)
    amount = serializers.CharField()
    business_date = serializers.DateField()
    posted_at = serializers.DateTimeField()
    reversed_at = serializers.DateTimeField(allow_null=True)
    allocations = AllocationSerializer(many=True)


class PaymentPageSerializer(serializers.Serializer):
    payments = BillerPaymentSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)
    has_more = serializers.BooleanField()


class EReceiptSerializer(serializers.Serializer):
    url = serializers.CharField(help_text="The payer's e-receipt page (and its PDF at url + 'pdf/').")
    verification_url = serializers.CharField()
    verification_code = serializers.CharField()


class FiscalReceiptSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["requested", "issued", "reversal_requested", "reversed", "failed"]
    )
    notice_no = serializers.CharField(
        allow_blank=True, help_text="The payment notice (缴款书) it pays, if any."
    )
    invoice_code = serializers.CharField(allow_blank=True, help_text="票据代码 (empty until issued).")
    invoice_no = serializers.CharField(allow_blank=True, help_text="票据号码 (empty until issued).")
    check_code = serializers.CharField(allow_blank=True, help_text="校验码, 6 characters.")
    issued_at = serializers.DateTimeField(allow_null=True)
    red_invoice_code = serializers.CharField(
        allow_blank=True, help_text="The red-letter (冲红) receipt's code."
    )
    red_invoice_no = serializers.CharField(allow_blank=True)
    reversed_at = serializers.DateTimeField(allow_null=True)


class BillerReceiptSerializer(BillerPaymentSerializer):
    payer = serializers.CharField(allow_blank=True, help_text="The account holder's name, masked.")
    e_receipt = EReceiptSerializer()
    fiscal_receipt_no = serializers.CharField(
        allow_blank=True, help_text="The fiscal e-receipt number the biller's own system gave, when it did."
    )
    biller_check = serializers.CharField(
        allow_blank=True, help_text="What the biller's system said about it (live billers only)."
    )
    fiscal_receipt = FiscalReceiptSerializer(
        allow_null=True, help_text="The official fiscal e-receipt, for a biller that has them issued."
    )


class CardWriteResultSerializer(serializers.Serializer):
    """The biller's word on a held top-up (docs/biller-api.md, "Top-ups written to a card")."""

    result = serializers.ChoiceField(choices=["written", "failed"])
    write_ref = serializers.RegexField(
        r"^[\x21-\x7e]{0,64}$",
        max_length=64,
        required=False,
        default="",
        allow_blank=True,
        help_text="Your system's reference of the card write.",
    )
    reason = serializers.CharField(
        max_length=200, required=False, default="", allow_blank=True, help_text="Why the write failed."
    )

    def validate(self, data):
        if data["result"] == "failed" and not data["reason"].strip():
            raise serializers.ValidationError({"reason": "Say why the write failed."})
        return data


class BillerTopUpSerializer(BillerPaymentSerializer):
    card_write = CardWriteSerializer(allow_null=True)
