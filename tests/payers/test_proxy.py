from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import AuditEvent, Bill, CustomerAccount, Payment
from payers import receipts
from payers.models import GatewayOrder, ProxyBatch, ReceiptBundle
from tests.factories import BillerFactory
from tests.support import log_in

pytestmark = pytest.mark.django_db

# A proxy file is checked with a fixed number of queries however many rows it has (10 when measured).
QUERIES_FOR_ANY_FILE = 15


@pytest.fixture
def officer(client, django_user_model):
    user = django_user_model.objects.create_user("officer", "officer@example.com", "x")
    log_in(client, user)
    return user


@pytest.fixture
def pension():
    return BillerFactory(code="PENSION", name="城乡居民养老保险", account_pattern=r"^\d{8}$")


def residents(biller, count):
    accounts = CustomerAccount.objects.bulk_create(
        CustomerAccount(biller=biller, account_no=f"{60000000 + i}", holder_name=f"居民{i}")
        for i in range(count)
    )
    Bill.objects.bulk_create(
        Bill(biller=biller, account=a, period="2026-11", amount_due=Decimal("300.00"), due_date="2026-12-31")
        for a in accounts
    )
    return accounts


def upload(client, biller, text):
    data = SimpleUploadedFile("residents.csv", text.encode("utf-8-sig"), content_type="text/csv")
    return client.post("/me/proxy/", {"biller": biller.code, "file": data})


def test_a_3000_row_file_is_checked_in_a_few_queries_with_row_numbered_errors(client, officer, pension):
    residents(pension, 3000)
    lines = ["户号,金额,姓名"] + [f"{60000000 + i},300.00,居民{i}" for i in range(3000)]
    lines[10] = "60000008,300.00,重复"  # row 11 repeats row 10's account
    lines[20] = "6000ABC,300.00,坏号"  # row 21
    lines[30] = "60000029,299.00,少缴"  # row 31: not the exact amount due
    with CaptureQueriesContext(connection) as queries:
        response = upload(client, pension, "\n".join(lines))
    batch = ProxyBatch.objects.get()
    assert response.status_code == 302
    assert len(queries) <= QUERIES_FOR_ANY_FILE, len(queries)  # looked up in bulk, not row by row
    assert [row["row"] for row in batch.rows if row["error"]] == [11, 21, 31]
    page = client.get(response.url).content.decode()
    assert "6000ABC" in page and "21" in page


def test_bad_rows_are_reported_and_left_out_while_the_good_rows_are_paid(client, officer, pension, bank):
    residents(pension, 4)
    response = upload(
        client,
        pension,
        "户号,金额,姓名\n60000000,300.00,甲\n6000ABC,300.00,坏号\n60000001,300.00,乙\n60000002,299.00,少缴\n"
        "60000003,300.00,丙\n",
    )
    batch = ProxyBatch.objects.get()
    assert [(row["row"], bool(row["error"])) for row in batch.rows] == [
        (2, False),
        (3, True),
        (4, False),
        (5, True),
        (6, False),
    ]
    assert batch.total == Decimal("900.00")  # the rows that will be paid, not the refused ones
    page = client.get(response.url)
    assert page.context["summary"] == "3 位居民，共 ¥900.00"
    html = page.content.decode()
    assert "2 行无法缴费" in html and "¥900.00" in html
    assert "6000ABC" in html and "300.00" in html  # the refused rows with their row number and reason
    refused = dict((row["row"], row["error"]) for row in page.context["errors"])
    assert set(refused) == {3, 5} and "¥300.00" in refused[5]  # says what is due
    assert client.post(response.url).url.startswith("/sandbox-bank/gateway/")
    order = GatewayOrder.objects.get()
    assert order.amount == Decimal("900.00")
    assert [line.account.account_no for line in order.lines.order_by("line_no")] == [
        "60000000",
        "60000001",
        "60000003",
    ]


def test_a_row_without_an_amount_pays_what_is_due_late_fee_included(client, officer, pension):
    accounts = residents(pension, 2)
    Bill.objects.filter(account=accounts[0]).update(late_fee=Decimal("4.50"))
    response = upload(client, pension, "account_no,name\n60000000,甲\n60000001,乙\n")
    batch = ProxyBatch.objects.get()
    assert batch.error_count == 0
    assert [(row["due"], row["amount"]) for row in batch.rows] == [("304.50", "304.50"), ("300.00", "300.00")]
    assert batch.total == Decimal("604.50")
    html = client.get(response.url).content.decode()
    assert "¥304.50" in html and "¥604.50" in html


def test_each_row_shows_the_masked_holder_name_to_compare(client, officer, pension):
    account = residents(pension, 1)[0]
    account.holder_name = "张小明"
    account.save()
    response = upload(client, pension, "户号,金额\n60000000,\n")
    html = client.get(response.url).content.decode()
    assert "张*明" in html and "张小明" not in html


def pay_batch(
    client, officer, pension, bank, capture, residents_count=60, before_notify=lambda: None
) -> GatewayOrder:
    """Upload a clean batch, pay it at the sandbox bank and post it (by the task a big order gets);
    `before_notify` runs between the bank's payment and its notification."""
    residents(pension, residents_count)
    upload(
        client,
        pension,
        "\n".join(
            ["account_no,amount,name"] + [f"{60000000 + i},300.00,R{i}" for i in range(residents_count)]
        ),
    )
    batch = ProxyBatch.objects.get()
    assert batch.error_count == 0 and batch.total == Decimal("300.00") * residents_count
    response = client.post(f"/me/proxy/{batch.public_id}/")
    assert response.url.startswith("/sandbox-bank/gateway/")
    client.get(response.url)
    order = GatewayOrder.objects.get()
    assert order.lines.count() == residents_count
    bank.pay(order)
    before_notify()
    with capture(execute=True):
        bank.notify(order)  # more lines than PORTAL_INLINE_SETTLE_MAX_LINES: posted by the task
    return order


def test_a_big_batch_is_posted_a_chunk_a_transaction_and_a_bill_paid_meanwhile_is_refunded(
    client, officer, pension, bank, django_capture_on_commit_callbacks, monkeypatch
):
    """The task posts 100 lines a transaction (`post_payments`); a resident whose bill was paid at a
    counter after the officer's checkout is refused, and that line's money goes back to the officer."""
    from billing.choices import Channel
    from payers import services
    from payers.choices import LineOutcome
    from tests.support import pay

    monkeypatch.setattr(services, "SETTLE_CHUNK", 25)
    batches = []
    real = services.post_payments
    monkeypatch.setattr(
        services, "post_payments", lambda **kw: batches.append(len(kw["orders"])) or real(**kw)
    )

    def paid_elsewhere():
        pay(
            CustomerAccount.objects.get(account_no="60000007"),
            "300.00",
            key="elsewhere",
            channel=Channel.ONLINE,
        )

    order = pay_batch(
        client, officer, pension, bank, django_capture_on_commit_callbacks, before_notify=paid_elsewhere
    )
    assert batches == [25, 25, 10]
    lines = {line.account.account_no: line for line in order.lines.select_related("account", "payment")}
    refused = lines.pop("60000007")
    assert (refused.outcome, refused.refusal_code, refused.payment) == (
        LineOutcome.REFUNDED,
        "no_open_bill",
        None,
    )
    assert {line.outcome for line in lines.values()} == {LineOutcome.POSTED}
    assert Payment.objects.filter(payer__user=officer).count() == 59
    assert all(line.payment.amount == Decimal("300.00") for line in lines.values())
    assert Bill.objects.filter(biller=pension, status="paid").count() == 60


def test_a_valid_batch_is_paid_in_one_checkout_with_one_receipt_per_resident(
    client, officer, pension, bank, django_capture_on_commit_callbacks
):
    order = pay_batch(client, officer, pension, bank, django_capture_on_commit_callbacks)
    assert Payment.objects.filter(payer__user=officer).count() == 60
    assert len({p.idempotency_key for p in Payment.objects.all()}) == 60
    pdf = client.get(f"/orders/{order.access_token}/receipts.pdf")
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.count(b"/Type /Page\n") == 60


def test_a_big_batchs_receipts_are_built_by_a_task_with_progress(
    client, officer, pension, bank, django_capture_on_commit_callbacks, settings
):
    settings.PORTAL_INLINE_RECEIPTS_MAX = 20
    order = pay_batch(client, officer, pension, bank, django_capture_on_commit_callbacks)
    page_url = f"/orders/{order.access_token}/receipts/"
    assert client.get(f"/orders/{order.access_token}/receipts.pdf").url == page_url
    assert 'method="post"' in client.get(page_url).content.decode()  # nothing built until asked
    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert client.post(page_url).url == page_url
    working = client.get(page_url)
    status_url = f"/orders/{order.access_token}/receipts/status/"
    assert working.context["working"] and 'http-equiv="refresh"' not in working.content.decode()
    assert f'hx-get="{status_url}"' in working.content.decode()  # its status region polls, the page stays
    assert f'hx-get="{status_url}"' in client.get(status_url).content.decode()
    with django_capture_on_commit_callbacks(execute=False) as again:
        client.post(page_url)  # a second click while it is queued starts nothing more
    assert len(queued) == 1 and len(again) == 0
    queued[0]()  # the task runs
    bundle = ReceiptBundle.objects.get()
    assert bundle.status == ReceiptBundle.Status.DONE and bundle.pages_done == 60 and bundle.percent == 100
    done = client.get(page_url).content.decode()
    assert f"/orders/{order.access_token}/receipts/download/" in done and "refresh" not in done
    assert "hx-get" not in client.get(status_url).content.decode()  # built: the poller stops
    pdf = client.get(f"/orders/{order.access_token}/receipts/download/")
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.count(b"/Type /Page\n") == 60
    assert AuditEvent.objects.filter(action="receipt_bundle.requested").count() == 1


def test_a_failed_receipt_build_is_reported_and_can_be_started_again(
    client, officer, pension, bank, django_capture_on_commit_callbacks, settings, monkeypatch
):
    settings.PORTAL_INLINE_RECEIPTS_MAX = 20
    order = pay_batch(client, officer, pension, bank, django_capture_on_commit_callbacks, residents_count=25)
    page_url = f"/orders/{order.access_token}/receipts/"

    def broken(items, on_page=None):
        raise OSError("disk full")

    monkeypatch.setattr(receipts, "receipts_pdf", broken)
    with pytest.raises(OSError), django_capture_on_commit_callbacks(execute=True):
        client.post(page_url)
    assert ReceiptBundle.objects.get().status == ReceiptBundle.Status.FAILED
    assert client.get(f"/orders/{order.access_token}/receipts/download/").status_code == 404
    assert "msg-error" in client.get(page_url).content.decode()
    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(page_url)
    assert ReceiptBundle.objects.get().status == ReceiptBundle.Status.DONE


def test_another_orders_token_gets_no_receipts(client, officer):
    assert client.get("/orders/not-a-token/receipts/").status_code == 404
    assert client.get("/orders/not-a-token/receipts/download/").status_code == 404


def test_another_citizens_batch_is_not_found(client, officer, pension, django_user_model):
    other = django_user_model.objects.create_user("other", "o@example.com", "x")
    batch = ProxyBatch.objects.create(user=other, biller=pension, file_name="x.csv", rows=[])
    assert client.get(f"/me/proxy/{batch.public_id}/").status_code == 404
