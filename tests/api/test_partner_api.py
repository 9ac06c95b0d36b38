"""Contract tests of the partner API: every endpoint's status codes, bodies and error codes."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from api.choices import PartnerStatus
from api.models import Partner, PartnerCommission, PartnerReversal
from api.services import change_partner_status, issue_credential
from billing.choices import BillerStatus, BillStatus, Channel, PaymentStatus
from billing.models import AuditEvent, Payment
from billing.services import post_payment
from tests.api.conftest import SignedClient, error_code, pay
from tests.factories import BillerFactory, BillFactory, CustomerAccountFactory

pytestmark = pytest.mark.django_db

BASE = "/api/v1/partner"


class TestCatalogue:
    def test_categories_list_only_those_of_allowed_billers(self, api, water):
        BillerFactory(
            code="GAS01", category=__import__("billing").models.BillerCategory.objects.get(code="gas")
        )
        response = api.get(f"{BASE}/categories")
        assert response.status_code == 200
        assert [c["code"] for c in response.json()["categories"]] == ["water"]

    def test_billers_come_with_account_rules_and_payment_modes(self, api, water):
        response = api.get(f"{BASE}/billers")
        assert response.status_code == 200
        (biller,) = response.json()["billers"]
        assert biller["code"] == "WATER01"
        assert biller["account_pattern"] == r"^\d{8}$"
        assert biller["payment_mode"] == "statement"
        assert biller["amount_rule"] == "exact"
        assert biller["takes_payments"] is True
        assert biller["min_amount"] == "0.01"

    def test_billers_filtered_by_category(self, api, water):
        assert api.get(f"{BASE}/billers", {"category": "gas"}).json()["billers"] == []
        assert len(api.get(f"{BASE}/billers", {"category": "water"}).json()["billers"]) == 1

    def test_a_biller_the_partner_was_not_given_is_refused(self, api):
        BillerFactory(
            code="TUITION1", category=__import__("billing").models.BillerCategory.objects.get(code="gas")
        )
        response = api.get(f"{BASE}/billers/TUITION1")
        assert response.status_code == 403
        assert error_code(response) == "biller_not_allowed"

    def test_an_explicitly_allowed_biller_is_reached_outside_its_categories(self, api, partner):
        other = BillerFactory(
            code="GAS02", category=__import__("billing").models.BillerCategory.objects.get(code="gas")
        )
        partner.allowed_billers.add(other)
        assert api.get(f"{BASE}/billers/GAS02").status_code == 200

    def test_unknown_biller_is_404(self, api):
        response = api.get(f"{BASE}/billers/NOPE")
        assert response.status_code == 404
        assert error_code(response) == "biller_unknown"

    def test_suspended_biller_is_listed_with_its_reason(self, api, water):
        water.status = BillerStatus.SUSPENDED
        water.status_reason = "系统升级"
        water.save()
        body = api.get(f"{BASE}/billers/WATER01").json()
        assert body["takes_payments"] is False
        assert body["status_reason"] == "系统升级"


class TestEnquiry:
    def test_enquiry_shows_masked_name_and_open_bills(self, api, bill):
        response = api.get(f"{BASE}/billers/WATER01/accounts/31005678")
        assert response.status_code == 200
        body = response.json()
        assert body["holder_name"] == "张*明"
        assert body["total_outstanding"] == "128.40"
        assert [b["period"] for b in body["bills"]] == ["2026-09"]
        assert body["bills"][0]["outstanding"] == "128.40"

    def test_enquiry_of_an_unknown_account(self, api, bill):
        response = api.get(f"{BASE}/billers/WATER01/accounts/99999999")
        assert response.status_code == 404
        assert error_code(response) == "account_unknown"

    def test_enquiry_of_a_number_that_breaks_the_rule(self, api, bill):
        response = api.get(f"{BASE}/billers/WATER01/accounts/12")
        assert response.status_code == 422
        assert error_code(response) == "account_number_invalid"

    def test_paid_bills_are_not_listed(self, api, bill):
        assert pay(api, bill).status_code == 201
        body = api.get(f"{BASE}/billers/WATER01/accounts/31005678").json()
        assert body["bills"] == []
        assert body["total_outstanding"] == "0.00"


class TestCreatePayment:
    def test_a_payment_is_posted_through_the_posting_service(self, api, bill):
        response = pay(api, bill, key="order-1")
        assert response.status_code == 201, response.json()
        body = response.json()
        assert body["status"] == "posted"
        assert body["amount"] == "128.40"
        assert body["partner_ref"] == "ACME-order-1"
        assert body["allocations"] == [{"kind": "bill", "period": "2026-09", "amount": "128.40"}]
        payment = Payment.objects.get(receipt_no=body["receipt_no"])
        assert payment.channel == Channel.PARTNER
        assert payment.idempotency_key == "ACME:order-1"
        assert payment.channel_ref == "ACME-order-1"
        bill.refresh_from_db()
        assert bill.status == BillStatus.PAID
        assert AuditEvent.objects.filter(action="partner.payment_taken", target_id=str(payment.pk)).exists()

    def test_the_answer_is_a_machines_no_cookie_no_session_but_every_security_header(self, api, bill):
        response = pay(api, bill, key="order-headers")
        assert response.status_code == 201
        assert not response.cookies  # no session, no CSRF token (config.middleware: page middleware skipped)
        assert "Cookie" not in response.get("Vary", "")
        assert "Content-Security-Policy" not in response  # a JSON answer, never a document
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Request-ID"]
        assert AuditEvent.objects.filter(action="partner.payment_taken").count() == 1

    def test_a_signed_request_skips_the_page_middleware_a_page_goes_through(self, api, bill, client):
        # config.middleware.SignedApiMiddleware: allauth's middleware marks every request it sees
        response = pay(api, bill, key="order-chain")
        assert response.status_code == 201
        assert not hasattr(response.wsgi_request, "allauth")
        assert not hasattr(response.wsgi_request, "session")
        page = client.get("/")
        assert hasattr(page.wsgi_request, "allauth")
        assert hasattr(page.wsgi_request, "session")

    def test_an_html_page_under_the_api_keeps_its_policy(self, client):
        response = client.get(f"{BASE}/no-such-operation")
        assert response.status_code == 404
        assert "Content-Security-Policy" in response

    def test_a_replay_returns_the_original_response(self, api, bill):
        first = pay(api, bill, key="order-2")
        second = pay(api, bill, key="order-2")
        assert second.status_code == 201
        assert second.json() == first.json()
        assert second["Idempotent-Replayed"] == "true"
        assert first["Idempotent-Replayed"] == "false"
        assert Payment.objects.count() == 1

    def test_the_longest_partner_code_with_the_longest_key_pays_once(self, client, water, bill, admin_user):
        # A partner's posting key is its code (up to 32) + ":" + its Idempotency-Key (up to 100): 133 in all.
        partner = Partner.objects.create(code="P" + "9" * 31, name="Long Code Pay", rate_limit_per_minute=10)
        partner.allowed_categories.add(water.category)
        issued = issue_credential(owner=partner, actor=admin_user)
        api = SignedClient(client, issued.credential.key_id, issued.secret)
        key = "k" * 100
        first = pay(api, bill, key=key, partner_ref="LONG-1")
        assert first.status_code == 201, first.json()
        payment = Payment.objects.get()
        assert payment.idempotency_key == f"{partner.code}:{key}" and len(payment.idempotency_key) == 133
        again = post_payment(
            channel=Channel.PARTNER,
            idempotency_key=payment.idempotency_key,
            biller_code=bill.biller.code,
            account_no=bill.account.account_no,
            amount=payment.amount,
            channel_ref="LONG-1",
        )
        assert again.replayed and again.payment == payment

    def test_the_same_key_with_a_different_body_is_409(self, api, bill):
        pay(api, bill, key="order-3")
        response = pay(api, bill, key="order-3", amount="1.00")
        assert response.status_code == 409
        assert error_code(response) == "idempotency_key_reused"
        assert "order-3" in response.json()["error"]["message"]

    def test_a_refused_request_stores_nothing_and_a_corrected_retry_goes_through(self, api, bill):
        refused = pay(api, bill, key="order-4", amount="1.00")
        assert refused.status_code == 422
        assert error_code(refused) == "amount_not_exact"
        assert pay(api, bill, key="order-4").status_code == 201

    def test_the_idempotency_key_is_required(self, api, bill):
        body = {"biller_code": "WATER01", "account_no": "31005678", "amount": "128.40", "partner_ref": "x"}
        response = api.post(f"{BASE}/payments", body)
        assert response.status_code == 400
        assert error_code(response) == "idempotency_key_required"

    def test_two_partners_keys_never_collide(self, api, bill, client, admin_user):
        from api import services
        from api.models import Partner
        from billing.models import BillerCategory
        from tests.api.conftest import SignedClient

        other = Partner.objects.create(code="OTHER", name="Other")
        other.allowed_categories.add(BillerCategory.objects.get(code="water"))
        issued = services.issue_credential(owner=other, actor=admin_user)
        other_api = SignedClient(client, issued.credential.key_id, issued.secret)
        bill2 = BillFactory(
            account=bill.account, period="2026-10", amount_due=Decimal("10.00"), due_date="2026-11-20"
        )
        assert pay(api, bill, key="same").status_code == 201
        response = pay(other_api, bill2, key="same", amount="10.00")
        assert response.status_code == 201
        assert Payment.objects.filter(idempotency_key__in=["ACME:same", "OTHER:same"]).count() == 2

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("amount", 128.4),
            ("amount", "12.345"),
            ("amount", "-1"),
            ("periods", ["2026-13"]),
            ("partner_ref", ""),
        ],
    )
    def test_malformed_bodies_are_400_with_the_field_named(self, api, bill, field, value):
        response = pay(api, bill, key="bad", **{field: value})
        assert response.status_code == 400
        assert error_code(response) == "validation_failed"
        assert field in response.json()["error"]["details"]["fields"]

    def test_a_body_that_is_not_json_is_400(self, api, bill):
        response = api.post(f"{BASE}/payments", b"{not json", idempotency_key="nj")
        assert response.status_code == 400
        assert error_code(response) == "parse_error"

    def test_a_suspended_biller_refuses_with_its_reason(self, api, bill):
        water = bill.biller
        water.status = BillerStatus.SUSPENDED
        water.status_reason = "系统升级"
        water.save()
        response = pay(api, bill, key="susp")
        assert response.status_code == 422
        assert error_code(response) == "biller_not_active"
        assert "系统升级" in response.json()["error"]["message"]

    def test_a_biller_not_allowed_to_the_partner_is_refused(self, api):
        from billing.models import BillerCategory

        gas = BillerFactory(code="GAS09", category=BillerCategory.objects.get(code="gas"))
        gas_bill = BillFactory(account=CustomerAccountFactory(biller=gas, account_no="55555555"))
        response = pay(api, gas_bill, key="gas")
        assert response.status_code == 403
        assert error_code(response) == "biller_not_allowed"
        assert not Payment.objects.exists()

    def test_errors_speak_chinese_by_default(self, api, bill):
        api.language = "zh-hans"
        response = pay(api, bill, key="zh", amount="1.00")
        assert error_code(response) == "amount_not_exact"
        assert "足额" in response.json()["error"]["message"] or "应缴" in response.json()["error"]["message"]

    def test_errors_speak_english_on_request(self, api, bill):
        response = pay(api, bill, key="en", amount="1.00")
        assert "exact amount" in response.json()["error"]["message"]


class TestStatusAndReversal:
    def test_status_of_an_own_payment(self, api, bill):
        receipt = pay(api, bill).json()["receipt_no"]
        response = api.get(f"{BASE}/payments/{receipt}")
        assert response.status_code == 200
        assert response.json()["status"] == "posted"

    def test_another_channels_payment_is_unknown_to_the_partner(self, api, bill):
        payment = post_payment(
            channel=Channel.ONLINE,
            idempotency_key="SANDBOX:x",
            biller_code="WATER01",
            account_no="31005678",
            amount="128.40",
        ).payment
        response = api.get(f"{BASE}/payments/{payment.receipt_no}")
        assert response.status_code == 404
        assert error_code(response) == "payment_unknown"

    def test_reversal_on_the_same_day(self, api, bill):
        receipt = pay(api, bill).json()["receipt_no"]
        response = api.post(
            f"{BASE}/payments/{receipt}/reversal", {"reason": "用户取消", "reversal_ref": "ACME-R-1"}
        )
        assert response.status_code == 200, response.json()
        assert response.json()["status"] == "reversed"
        assert response.json()["reversal_ref"] == "ACME-R-1"
        bill.refresh_from_db()
        assert bill.status == BillStatus.OPEN
        assert PartnerReversal.objects.get().reversal_ref == "ACME-R-1"

    def test_the_same_reversal_asked_again_answers_the_same(self, api, bill):
        receipt = pay(api, bill).json()["receipt_no"]
        body = {"reason": "用户取消", "reversal_ref": "ACME-R-2"}
        first = api.post(f"{BASE}/payments/{receipt}/reversal", body)
        second = api.post(f"{BASE}/payments/{receipt}/reversal", body)
        assert second.status_code == 200
        assert second.json() == first.json()

    def test_a_second_reversal_with_another_ref_is_409(self, api, bill):
        receipt = pay(api, bill).json()["receipt_no"]
        api.post(f"{BASE}/payments/{receipt}/reversal", {"reason": "a", "reversal_ref": "R-A"})
        response = api.post(f"{BASE}/payments/{receipt}/reversal", {"reason": "b", "reversal_ref": "R-B"})
        assert response.status_code == 409
        assert error_code(response) == "payment_already_reversed"

    def test_reversal_of_a_previous_days_payment_is_refused(self, api, bill):
        receipt = pay(api, bill).json()["receipt_no"]
        Payment.objects.filter(receipt_no=receipt).update(
            business_date=timezone.localdate() - datetime.timedelta(days=1)
        )
        response = api.post(f"{BASE}/payments/{receipt}/reversal", {"reason": "late", "reversal_ref": "R-L"})
        assert response.status_code == 422
        assert error_code(response) == "reversal_window_closed"
        assert Payment.objects.get(receipt_no=receipt).status == PaymentStatus.POSTED


class TestStatement:
    def test_the_days_statement_in_the_platform_csv_format(self, api, bill, partner):
        PartnerCommission.objects.create(
            partner=partner, fixed_fee=Decimal("0.50"), percentage=Decimal("0.0010"), valid_from="2020-01-01"
        )
        receipt = pay(api, bill, key="st-1").json()["receipt_no"]
        api.post(f"{BASE}/payments/{receipt}/reversal", {"reason": "取消", "reversal_ref": "ACME-R-9"})
        today = timezone.localdate()
        response = api.get(f"{BASE}/statements/{today.isoformat()}")
        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        lines = response.content.decode().split("\n")
        assert lines[0].startswith(f"H,BILLPAY-STATEMENT,1,PARTNER:ACME,{today.isoformat()},")
        assert lines[1] == (
            "record_type,txn_type,channel_ref,receipt_no,biller_code,account_no,amount,fee,currency,"
            "occurred_at,original_channel_ref"
        )
        payment_line = lines[2].split(",")
        assert payment_line[:9] == [
            "D",
            "PAYMENT",
            "ACME-st-1",
            receipt,
            "WATER01",
            "31005678",
            "128.40",
            "0.63",
            "CNY",
        ]
        assert payment_line[9].endswith("+08:00")
        assert payment_line[10] == ""
        refund_line = lines[3].split(",")
        assert refund_line[:3] == ["D", "REFUND", "ACME-R-9"] and refund_line[10] == "ACME-st-1"
        assert lines[4] == "T,2,128.40,128.40,0.63"
        assert lines[5] == ""  # the file ends with LF

    def test_a_future_day_is_refused(self, api):
        day = timezone.localdate() + datetime.timedelta(days=1)
        response = api.get(f"{BASE}/statements/{day.isoformat()}")
        assert response.status_code == 422
        assert error_code(response) == "statement_day_invalid"

    def test_a_malformed_day_is_400(self, api):
        response = api.get(f"{BASE}/statements/yesterday")
        assert response.status_code == 400

    def test_another_partners_payments_are_not_in_the_statement(self, api, bill):
        post_payment(
            channel=Channel.PARTNER,
            idempotency_key="OTHER:1",
            biller_code="WATER01",
            account_no="31005678",
            amount="128.40",
            channel_ref="O-1",
        )
        text = api.get(f"{BASE}/statements/{timezone.localdate().isoformat()}").content.decode()
        assert "O-1" not in text
        assert text.split("\n")[2] == "T,0,0.00,0.00,0.00"


class TestPartnerStatus:
    def test_a_suspended_partner_gets_a_clear_error(self, api, partner, admin_user):
        change_partner_status(
            partner=partner, to_status=PartnerStatus.SUSPENDED, actor=admin_user, reason="欠费"
        )
        response = api.get(f"{BASE}/billers")
        assert response.status_code == 403
        assert error_code(response) == "partner_suspended"
        assert "欠费" in response.json()["error"]["message"]
        assert AuditEvent.objects.filter(action="partner.status_changed").exists()

    def test_ip_allow_list(self, api, partner):
        partner.ip_allowlist = "10.0.0.0/8\n192.168.1.7"
        partner.save()
        response = api.get(f"{BASE}/billers")
        assert response.status_code == 403
        assert error_code(response) == "ip_not_allowed"
        partner.ip_allowlist = "127.0.0.0/8"
        partner.save()
        assert api.get(f"{BASE}/billers").status_code == 200
