"""`SharedFields.represent` answers what DRF's `Serializer(instance).data` answers, byte for byte in JSON."""

import datetime
import json
import zoneinfo

import pytest
from django.utils import timezone
from rest_framework import serializers

from api.partner import serializers as s

UTC = datetime.UTC
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def payment(**changes) -> dict:
    body = {
        "receipt_no": "R20261204000123",
        "status": "posted",
        "biller_code": "WATER01",
        "account_no": "31005678",
        "amount": "128.40",
        "partner_ref": "A-1",
        "business_date": datetime.date(2026, 12, 4),
        "posted_at": datetime.datetime(2026, 12, 4, 7, 30, 1, 123456, tzinfo=UTC),
        "reversed_at": None,
        "reversal_ref": None,
        "allocations": [
            {"kind": "bill", "period": "2026-09", "amount": "120.00"},
            {"kind": "late_fee", "period": "2026-09", "amount": "8.40"},
            {"kind": "credit", "period": None, "amount": "0.00"},
        ],
        "card_write": None,
    }
    return {**body, **changes}


def as_json(data) -> str:
    return json.dumps(data, ensure_ascii=False)


CASES = {
    "posted": payment(),
    "no allocations, no account": payment(account_no="", allocations=[]),
    "reversed": payment(
        status="reversed",
        reversed_at=datetime.datetime(2026, 12, 4, 9, 0, tzinfo=SHANGHAI),
        reversal_ref="REF-9",
    ),
    "a held card write": payment(
        card_write={
            "status": "held",
            "expires_at": datetime.datetime(2026, 12, 5, 0, 0, tzinfo=UTC),
            "decided_at": None,
            "decided_by": "",
            "write_ref": "",
            "reason": "",
        }
    ),
    "a written card write": payment(
        card_write={
            "status": "written",
            "expires_at": datetime.datetime(2026, 12, 5, 0, 0, tzinfo=UTC),
            "decided_at": datetime.datetime(2026, 12, 4, 8, 0, 0, 5, tzinfo=UTC),
            "decided_by": "biller",
            "write_ref": "W-1",
            "reason": "",
        }
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_represent_answers_what_the_serializer_answers(case):
    body = CASES[case]
    assert as_json(s.PaymentSerializer.represent(body)) == as_json(s.PaymentSerializer(body).data)


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "UTC"])
def test_represent_shows_times_in_the_current_time_zone_as_drf_does(zone):
    body = CASES["a written card write"]
    with timezone.override(zone):
        fast = s.PaymentSerializer.represent(body)
        assert as_json(fast) == as_json(s.PaymentSerializer(body).data)
    shown = {"Asia/Shanghai": "2026-12-04T15:30:01.123456+08:00", "UTC": "2026-12-04T07:30:01.123456Z"}
    assert fast["posted_at"] == shown[zone]


def test_a_missing_key_is_left_to_drf():
    body = payment()
    del body["card_write"]  # DRF shows a missing nullable field as null
    assert as_json(s.PaymentSerializer.represent(body)) == as_json(s.PaymentSerializer(body).data)
    del body["receipt_no"]  # and refuses a missing required one
    with pytest.raises(KeyError):
        s.PaymentSerializer(body).data  # noqa: B018
    with pytest.raises(KeyError):
        s.PaymentSerializer.represent(body)


def test_a_field_with_another_source_sends_the_class_to_drf():
    class Renamed(s.SharedFields, serializers.Serializer):
        code = serializers.CharField(source="biller_code")

    assert Renamed.represent({"biller_code": "WATER01"}) == {"code": "WATER01"}
    assert Renamed._represent_steps == ()


PAYMENT = {"biller_code": "WATER01", "account_no": "31005678", "amount": "128.50", "partner_ref": "A-1"}
BODIES = {
    "plain": PAYMENT,
    "with periods": {**PAYMENT, "periods": ["2026-09", "2026-10"]},
    "no account": {key: value for key, value in PAYMENT.items() if key != "account_no"},
    "blank account": {**PAYMENT, "account_no": ""},
    "blank biller": {**PAYMENT, "biller_code": ""},
    "spaces to trim": {**PAYMENT, "account_no": " 31005678 ", "biller_code": "WATER01\n"},
    "only spaces": {**PAYMENT, "account_no": "   "},
    "a number for text": {**PAYMENT, "account_no": 31005678},
    "a number for the amount": {**PAYMENT, "amount": 128.5},
    "three decimals": {**PAYMENT, "amount": "128.505"},
    "a bool": {**PAYMENT, "biller_code": True},
    "null": {**PAYMENT, "account_no": None},
    "too long": {**PAYMENT, "biller_code": "W" * 33},
    "a NUL": {**PAYMENT, "account_no": "3100\x005678"},
    "a lone surrogate": {**PAYMENT, "account_no": "3100\ud8005678"},
    "non-ASCII": {**PAYMENT, "account_no": "三一〇〇五六七八"},
    "a bad partner_ref": {**PAYMENT, "partner_ref": "has space"},
    "a partner_ref with a newline": {**PAYMENT, "partner_ref": "A-1\n"},
    "a bad period": {**PAYMENT, "periods": ["2026-13"]},
    "a period with spaces": {**PAYMENT, "periods": [" 2026-09"]},
    "periods as text": {**PAYMENT, "periods": "2026-09"},
    "empty periods": {**PAYMENT, "periods": []},
    "25 periods": {**PAYMENT, "periods": ["2026-09"] * 25},
    "a number among periods": {**PAYMENT, "periods": [202609]},
    "extra keys": {**PAYMENT, "note": "ignored", "amount_cents": 12850},
    "nothing": {},
    "a list": [PAYMENT],
    "text": "biller_code=WATER01",
}


def drf_answer(serializer_class, data):
    serializer = serializer_class(data=data)
    if serializer.is_valid():
        return ("valid", json.dumps(serializer.validated_data, sort_keys=True))
    return ("refused", json.dumps(serializer.errors, sort_keys=True))


def fast_answer(serializer_class, data):
    try:
        values = serializer_class.validated(data)
    except serializers.ValidationError as error:
        return ("refused", json.dumps(error.detail, sort_keys=True))
    return ("valid", json.dumps(values, sort_keys=True))


@pytest.mark.parametrize("case", BODIES)
def test_validated_answers_what_the_serializer_answers(case):
    body = BODIES[case]
    assert fast_answer(s.CreatePaymentSerializer, body) == drf_answer(s.CreatePaymentSerializer, body)


def test_a_plain_body_is_validated_without_drf(monkeypatch):
    def not_called(*args, **kwargs):
        raise AssertionError("DRF's validation ran")

    monkeypatch.setattr(s.CreatePaymentSerializer, "is_valid", not_called)
    assert s.CreatePaymentSerializer.validated({**PAYMENT, "periods": ["2026-09"]}) == {
        **PAYMENT,
        "periods": ["2026-09"],
    }
    with pytest.raises(AssertionError):
        s.CreatePaymentSerializer.validated({**PAYMENT, "amount": 128.5})  # DRF's to refuse


def test_a_serializer_with_its_own_validation_is_left_to_drf():
    class Checked(s.SharedFields, serializers.Serializer):
        code = serializers.CharField()

        def validate_code(self, value):
            raise serializers.ValidationError("never")

    with pytest.raises(serializers.ValidationError):
        Checked.validated({"code": "WATER01"})
    assert Checked._validate_steps == ()
