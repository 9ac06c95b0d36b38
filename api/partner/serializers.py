"""Small input and output serializers of the partner API, one pair per operation."""

from django.db.models.manager import BaseManager
from rest_framework import serializers
from rest_framework.fields import empty

from api.base import ErrorDetailSerializer
from api.exceptions import ApiError
from api.idempotency import KEY_RE
from billing.money import CHANNEL_AMOUNT_PATTERN as AMOUNT_PATTERN

PERIOD_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"


class SharedFields:
    """A serializer whose fields are built and bound once per class, not deep-copied again for every
    instance (DRF copies every declared field, nested serializers included, each time: a third of a
    millisecond per payment request). Only for plain serializers whose fields keep no state between calls
    and read no context: their fields' parent is then a blank instance of the class, made once.

    `represent(instance)` is `Serializer(instance).data` for a dict the presenters made, without building a
    serializer: the steps are read once from the same declared fields (so the schema and the answer cannot
    part), and each value goes through its field's own `to_representation` (plain text fields through
    `str`, as theirs does). A field it cannot follow (a dotted or `*` source) sends every call to DRF."""

    @property
    def fields(self):
        cls = type(self)
        return _kept_on_class(cls, "_shared_fields", lambda: serializers.Serializer.fields.func(cls()))

    @classmethod
    def validated(cls, data) -> dict:
        """`Serializer(data=data)`'s `validated_data`, or its ValidationError. A body of plain text values
        that are already what DRF would make of them (no spaces to trim, no number to turn into text) and
        pass every validator of their declared fields is taken as it is; anything else (a refusal, a value
        DRF would change) goes through the serializer, which decides and words the errors."""
        steps = _kept_on_class(cls, "_validate_steps", lambda: _input_steps(cls()) or ())
        if steps:
            try:
                return _validated(steps, data)
            except KeyError:
                pass
        serializer = cls(data=data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    @classmethod
    def represent(cls, instance: dict) -> dict:
        steps = _kept_on_class(cls, "_represent_steps", lambda: _steps(cls()) or ())
        if steps:
            try:
                return _apply(steps, instance)
            except KeyError:  # a key left out: DRF decides (a default, null, or its error)
                pass
        return cls(instance).data


def _kept_on_class(cls, name: str, make):
    """What `make()` gives, made once for this very class (a subclass makes its own) and kept on it."""
    kept = cls.__dict__.get(name)
    if kept is None:
        kept = make()
        setattr(cls, name, kept)
    return kept


def _input_steps(serializer: serializers.Serializer) -> list | None:
    """(name, field, child field of a list or None) for each writable field, when every one is a text field
    (plain, regex, or a list of them) and the serializer validates nothing of its own; else None."""
    if (
        type(serializer).validate is not serializers.Serializer.validate
        or serializer.validators
        or getattr(serializer, "partial", False)
    ):
        return None
    steps = []
    for field in serializer._writable_fields:
        if field.source_attrs != [field.field_name] or hasattr(serializer, f"validate_{field.field_name}"):
            return None
        child = field.child if type(field) is serializers.ListField else None
        text = child or field
        if not isinstance(text, serializers.CharField) or not _plain_text_field(text):
            return None
        if any(getattr(v, "requires_context", False) for v in field.validators):
            return None
        steps.append((field.field_name, field, child))
    return steps


def _plain_text_field(field: serializers.CharField) -> bool:
    """A text field whose only work is DRF's CharField's (AmountField adds a refusal of non-text, which the
    fast path never lets through) and whose validators need no context."""
    own = type(field).to_internal_value
    return own in (serializers.CharField.to_internal_value, AmountField.to_internal_value) and not any(
        getattr(v, "requires_context", False) for v in field.validators
    )


def _text(field: serializers.CharField, value) -> str:
    """The value as DRF's text field validates it, when that is plainly the value itself; KeyError when the
    case is DRF's to decide (its answer may be a refusal, a cleaned value, or a message)."""
    if type(value) is not str or value != value.strip() or "\x00" in value:
        raise KeyError(field.field_name)
    if value == "":
        if not field.allow_blank:
            raise KeyError(field.field_name)
        return ""
    for validator in field.validators:
        try:
            validator(value)
        except Exception:
            raise KeyError(field.field_name) from None
    return value


def _validated(steps: list, data) -> dict:
    if type(data) is not dict:
        raise KeyError("data")
    values = {}
    for name, field, child in steps:
        value = data.get(name, empty)
        if value is empty:
            if field.required:
                raise KeyError(name)
            if field.default is not empty:
                values[name] = field.get_default()
            continue
        if child is None:
            values[name] = _text(field, value)
            continue
        if type(value) is not list or (not value and not field.allow_empty):
            raise KeyError(name)
        for validator in field.validators:
            try:
                validator(value)
            except Exception:
                raise KeyError(name) from None
        values[name] = [_text(child, item) for item in value]
    return values


def _steps(serializer: serializers.Serializer) -> list | None:
    """(name, how to show a value) for each readable field, as `Serializer.to_representation` goes; None
    when a field reads anything but its own key."""
    steps = []
    for field in serializer._readable_fields:
        if field.source == "*" or field.source_attrs != [field.field_name]:
            return None
        if isinstance(field, serializers.ListSerializer) and isinstance(field.child, serializers.Serializer):
            inner = _steps(field.child)
            convert = _many(inner) if inner else field.to_representation
        elif isinstance(field, serializers.Serializer):
            inner = _steps(field)
            convert = _one(inner) if inner else field.to_representation
        elif type(field) is serializers.CharField:
            convert = str
        else:
            convert = field.to_representation
        steps.append((field.field_name, convert))
    return steps


def _apply(steps: list, instance: dict) -> dict:
    # A value of None is shown as None whatever the field, as `Serializer.to_representation` does.
    return {name: None if (value := instance[name]) is None else convert(value) for name, convert in steps}


def _one(steps: list):
    return lambda value: _apply(steps, value)


def _many(steps: list):
    def convert(values):
        if isinstance(values, BaseManager):
            values = values.all()
        return [_apply(steps, value) for value in values]

    return convert


class AmountField(serializers.RegexField):
    """Yuan as a JSON string ("128.50"): a JSON number is refused, since it may reach us as a float."""

    default_error_messages = {"not_a_string": 'Send the amount as a string, such as "128.50".'}

    def __init__(self, **kwargs):
        super().__init__(AMOUNT_PATTERN, max_length=15, **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class CategorySerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    name_en = serializers.CharField(allow_blank=True)
    parent = serializers.CharField(allow_null=True)


class CategoryListSerializer(serializers.Serializer):
    categories = CategorySerializer(many=True)


class BillerSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    name_en = serializers.CharField(allow_blank=True)
    category = serializers.CharField()
    status = serializers.ChoiceField(choices=["active", "suspended"])
    takes_payments = serializers.BooleanField()
    status_reason = serializers.CharField(allow_blank=True)
    payment_mode = serializers.ChoiceField(choices=["statement", "prepaid", "donation"])
    amount_rule = serializers.ChoiceField(choices=["exact", "exact_down", "exact_up"])
    min_amount = serializers.CharField()
    max_amount = serializers.CharField(allow_null=True)
    account_pattern = serializers.CharField(
        help_text="A regular expression the whole account number matches."
    )
    account_check_digit = serializers.ChoiceField(choices=["none", "luhn", "mod11_2"])
    account_hint = serializers.CharField(allow_blank=True)


class BillerListSerializer(serializers.Serializer):
    billers = BillerSerializer(many=True)


class BillerListQuerySerializer(serializers.Serializer):
    category = serializers.SlugField(required=False, max_length=40)


class InstalmentSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    amount = serializers.CharField()
    due_date = serializers.DateField()
    remaining = serializers.CharField(help_text="What is left to pay of it; pay the next open one's exactly.")


class OpenBillSerializer(serializers.Serializer):
    period = serializers.CharField()
    amount_due = serializers.CharField()
    late_fee = serializers.CharField(
        help_text="The late fee if paid today (Beijing time): accrued per day after the due date at the "
        "biller's rate, up to its cap."
    )
    discount = serializers.CharField(help_text="The early-payment discount that holds today, or 0.00.")
    amount_paid = serializers.CharField()
    outstanding = serializers.CharField(help_text="amount_due + late_fee − discount − amount_paid, today.")
    holds_until = serializers.DateField(
        allow_null=True,
        help_text="The last day (Beijing time) this outstanding amount holds; null if the date does not "
        "change it. A payment of a stale amount is refused with `amount_due_changed`.",
    )
    due_date = serializers.DateField()
    status = serializers.CharField()
    reference = serializers.CharField(allow_blank=True)
    notice_no = serializers.CharField(
        allow_blank=True, help_text="The payment notice's number (缴款书号), for a bill that is one."
    )
    description = serializers.CharField(allow_blank=True)
    instalments = InstalmentSerializer(
        many=True,
        help_text="When the bill is offered in instalments: each with its due date. Pay the bill in full, or "
        "the next open instalment's `remaining` exactly.",
    )
    beneficiary_kind = serializers.CharField(
        allow_blank=True,
        help_text="Who the bill is for: student, patient, resident, other; blank if not named.",
    )
    beneficiary = serializers.CharField(allow_blank=True, help_text="The beneficiary's name, masked: 张*明.")


class EnquirySerializer(serializers.Serializer):
    biller_code = serializers.CharField()
    account_no = serializers.CharField()
    holder_name = serializers.CharField(help_text="Masked: 张*明.")
    credit_balance = serializers.CharField()
    total_outstanding = serializers.CharField()
    priced_on = serializers.DateField(help_text="The day (Beijing time) the amounts are worked out for.")
    holds_until = serializers.DateField(
        allow_null=True,
        help_text="The last day (Beijing time) the total holds; null if the date does not change it.",
    )
    bills = OpenBillSerializer(many=True)


class CreatePaymentSerializer(SharedFields, serializers.Serializer):
    biller_code = serializers.CharField(max_length=32)
    account_no = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    amount = AmountField(help_text='Yuan as a string with at most two decimals: "128.50".')
    periods = serializers.ListField(
        child=serializers.RegexField(PERIOD_PATTERN, max_length=7),
        required=False,
        max_length=24,
        default=list,
    )
    partner_ref = serializers.RegexField(
        r"^[\x21-\x7e]{1,64}$",
        max_length=64,
        help_text="Your own id of this transaction; your statement lists it as channel_ref.",
    )


# How many payments one batch request may carry (POST payment-batches): its accounts stay locked until the
# whole batch is answered.
MAX_PAYMENT_BATCH = 100


class BatchPaymentSerializer(CreatePaymentSerializer):
    """One payment of a batch: a single payment's body, validated the same way, with its own key."""

    idempotency_key = serializers.RegexField(
        KEY_RE.pattern,
        max_length=100,
        help_text="This payment's own key, as the Idempotency-Key of a single payment (1-100 printable "
        "characters): the same key sent alone or in another batch answers as a replay of this payment.",
    )


class PaymentBatchSerializer(serializers.Serializer):
    payments = serializers.ListField(
        child=BatchPaymentSerializer(),
        min_length=1,
        max_length=MAX_PAYMENT_BATCH,
        help_text=f"1 to {MAX_PAYMENT_BATCH} payments. Each is validated and posted on its own: one refused "
        "holds back none of the others.",
    )

    @classmethod
    def items(cls, data) -> list:
        """The batch's payments, each left for `BatchPaymentSerializer` to validate on its own (a bad one is
        answered in its place, the others go on). A body that is no batch, or an empty one, is refused with
        `validation_failed`, a batch over the bound with `payment_batch_too_large`: nothing is posted."""
        payments = data.get("payments") if isinstance(data, dict) else None
        if isinstance(payments, list) and len(payments) > MAX_PAYMENT_BATCH:
            raise ApiError("payment_batch_too_large", limit=MAX_PAYMENT_BATCH, count=len(payments))
        shape = _PaymentBatchShape(data=data)
        shape.is_valid(raise_exception=True)
        return shape.validated_data["payments"]


class _PaymentBatchShape(serializers.Serializer):
    """A batch's outer shape: a list of at least one item, each item left as it came."""

    payments = serializers.ListField(allow_empty=False)


class CreateAgentPaymentSerializer(serializers.Serializer):
    agent_code = serializers.RegexField(
        r"^[A-Za-z0-9]{1,16}$", max_length=16, help_text="The agent's code: AG…"
    )
    terminal_id = serializers.RegexField(
        r"^[0-9A-Za-z-]{1,32}$", max_length=32, help_text="The agent's terminal the payment was taken on."
    )
    biller_code = serializers.CharField(max_length=32)
    account_no = serializers.CharField(max_length=40)
    amount = AmountField(help_text='Yuan as a string with at most two decimals: "128.50".')
    periods = serializers.ListField(
        child=serializers.RegexField(PERIOD_PATTERN, max_length=7), min_length=1, max_length=24
    )


class AllocationSerializer(serializers.Serializer):
    kind = serializers.CharField()
    period = serializers.CharField(allow_null=True)
    amount = serializers.CharField()


class CardWriteSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["held", "written", "voided"])
    expires_at = serializers.DateTimeField(help_text="Voided and refunded if not written by then.")
    decided_at = serializers.DateTimeField(allow_null=True)
    decided_by = serializers.CharField(allow_blank=True)
    write_ref = serializers.CharField(allow_blank=True)
    reason = serializers.CharField(allow_blank=True)


class PaymentSerializer(SharedFields, serializers.Serializer):
    receipt_no = serializers.CharField()
    status = serializers.ChoiceField(choices=["posted", "reversed"])
    biller_code = serializers.CharField()
    account_no = serializers.CharField(allow_blank=True)
    amount = serializers.CharField()
    partner_ref = serializers.CharField()
    business_date = serializers.DateField()
    posted_at = serializers.DateTimeField()
    reversed_at = serializers.DateTimeField(allow_null=True)
    reversal_ref = serializers.CharField(allow_null=True)
    allocations = AllocationSerializer(many=True)
    card_write = CardWriteSerializer(
        allow_null=True,
        help_text="A top-up that must be written to a card: held until written, or voided and refunded.",
    )


class BatchPaymentResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The payment's place in the request's list, from 0.")
    status = serializers.ChoiceField(
        choices=["posted", "replayed", "refused"],
        help_text="posted: a new payment; replayed: its key had paid already (alone or in a batch), the "
        "payment is that one; refused: nothing was posted for it, `error` says why.",
    )
    payment = PaymentSerializer(required=False, help_text="As POST payments answers it (posted, replayed).")
    error = ErrorDetailSerializer(
        required=False, help_text="Why it was refused (refused only): the single payment's code and message."
    )


class PaymentBatchCountsSerializer(serializers.Serializer):
    posted = serializers.IntegerField()
    replayed = serializers.IntegerField()
    refused = serializers.IntegerField()


class PaymentBatchResultSerializer(serializers.Serializer):
    payments = BatchPaymentResultSerializer(many=True, help_text="One per payment sent, in their order.")
    counts = PaymentBatchCountsSerializer()


class AgentPaymentSerializer(serializers.Serializer):
    receipt_no = serializers.CharField()
    status = serializers.ChoiceField(choices=["posted", "reversed"])
    biller_code = serializers.CharField()
    account_no = serializers.CharField(allow_blank=True)
    amount = serializers.CharField()
    agent_code = serializers.CharField()
    terminal_id = serializers.CharField()
    region_code = serializers.CharField()
    float_after = serializers.CharField(help_text="What is left of the agent's float after this payment.")
    commission = serializers.CharField(help_text="The agent's commission on this payment.")
    business_date = serializers.DateField()
    posted_at = serializers.DateTimeField()
    allocations = AllocationSerializer(many=True)


class ReversalSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=180, trim_whitespace=True)
    reversal_ref = serializers.RegexField(
        r"^[\x21-\x7e]{1,64}$",
        max_length=64,
        help_text="Your own id of the refund (REFUND line's channel_ref).",
    )
