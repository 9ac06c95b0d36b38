"""The walk of issue 14 shared by the browser checks of every page (sizes, axe, keyboard): the data a citizen
and a clerk meet, every page they open, and the browser contexts each mode and language is seen in.

Every citizen page of payers/urls.py, the public outlet finder of branches/urls.py, the complaint pages of
reconciliation/urls.py, the sandbox bank's cashier and agreement page, and the allauth pages the portal
links to; every counter page of branches/urls.py for a signed-in clerk (and the coverage page for a
supervisor)."""

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Error as PlaywrightError

from billing import roles
from billing.choices import AmountRule, PaymentMode
from billing.instalments import equal_parts
from billing.models import Payment
from billing.paylinks import pay_token
from billing.services import offer_instalments
from billing.topup_models import CardWriteRule
from branches import services as branch_services
from branches.choices import BranchRole
from disputes.services import raise_dispute
from payers import family, handoff, mandates, proxy, selectors
from payers.models import BoundAccount
from reconciliation.services.complaints import raise_complaint
from tests.branches.conftest import make_user
from tests.factories import BillerFactory, BillFactory, BranchFactory, CustomerAccountFactory
from tests.payers.conftest import Bank
from tests.payers.test_mandates import active_mandate
from tests.support import take_cash

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
MODES = {"normal": False, "large": True}
LANGUAGES = ("zh-hans", "en")


@dataclass
class Page:
    name: str
    path: str
    who: str = "anonymous"  # or "citizen", "clerk", "supervisor"


@dataclass
class Walk:
    citizen_pages: list[Page] = field(default_factory=list)
    counter_pages: list[Page] = field(default_factory=list)
    sessions: dict[str, str] = field(default_factory=dict)  # who -> session cookie value

    def path(self, name: str) -> str:
        return next(page.path for page in self.citizen_pages + self.counter_pages if page.name == name)


def _hosted_checkout(bill):
    """A partner's hosted checkout of the bill, as its signed link would have opened it (api.checkout)."""
    from api.models import ApiCredential, HostedCheckout, Partner

    partner = Partner.objects.create(code="GOVPORTAL", name="市民服务门户")
    return HostedCheckout.objects.create(
        partner=partner,
        credential=ApiCredential.objects.create(partner=partner),
        partner_order_id="GOV-1",
        nonce="walk-nonce-0000000001",
        biller=bill.biller,
        account=bill.account,
        periods=[bill.period],
        amount=bill.outstanding,
        return_url="https://gov.example.cn/billpay/return",
    )


def _session_of(user) -> str:
    """A signed-in session for the user (staff pass the second factor: tests/conftest.py's force_login)."""
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def build_walk() -> Walk:
    """Everything the pages show, made the way production makes it: a lookup with an overdue bill, a paid
    two-line order with receipts, a pending order at the sandbox bank, a complaint, outlets, a clerk's
    open till with one cash payment. Needs the sandbox bank switched on."""
    water = BillerFactory(
        code="WATER01", name="滨江水务", name_en="Binjiang Water", account_hint="户号为8位数字，见账单右上角"
    )
    power = BillerFactory(code="POWER01", name="滨江电力", name_en="Binjiang Power")
    gas_card = BillerFactory(
        code="GASCARD",
        name="燃气卡充值",
        name_en="Gas card top-up",
        payment_mode=PaymentMode.PREPAID,
        min_amount=Decimal("10.00"),
        max_amount=Decimal("2000.00"),
    )
    CustomerAccountFactory(biller=gas_card, account_no="77001234", holder_name="王芳")
    CardWriteRule.objects.create(biller=gas_card, timeout_minutes=30)  # top-ups wait for the card write
    BillerFactory(
        code="CHARITY", name="滨江慈善总会", name_en="Binjiang Charity", payment_mode=PaymentMode.DONATION
    )
    part = BillerFactory(  # a part-payment biller: its lookup offers the payer's own amount
        code="HEAT01", name="滨江热力", name_en="Binjiang Heating", amount_rule=AmountRule.EXACT_DOWN
    )
    heated = CustomerAccountFactory(biller=part, account_no="61001234", holder_name="赵春华")
    BillFactory(account=heated, period="2026-10", amount_due=Decimal("150.00"))
    home = CustomerAccountFactory(biller=water, account_no="31005678", holder_name="张小明")
    overdue = BillFactory(
        account=home, period="2026-08", amount_due=Decimal("42.50"), due_date=datetime.date(2026, 9, 20)
    )
    BillFactory(account=home, period="2026-09", amount_due=Decimal("100.00"), description="居民生活用水")
    waiting = BillFactory(account=home, period="2026-10", amount_due=Decimal("80.00"))
    flat = CustomerAccountFactory(biller=power, account_no="52001234", holder_name="李大山")
    power_bill = BillFactory(account=flat, period="2026-10", amount_due=Decimal("66.60"))

    user = get_user_model().objects.create_user("xm", "xm@example.com", "Portal-pass-2026")
    EmailAddress.objects.create(user=user, email="xm@example.com", verified=True, primary=True)
    BoundAccount.objects.create(user=user, account=home, label="家里水费")
    BoundAccount.objects.create(user=user, account=flat, label="妈妈家电费")

    client = Client()
    client.force_login(user)
    bank = Bank(client)
    paid = bank.checkout({"source": "mine", "bill": [overdue.pk, power_bill.pk]})
    bank.pay(paid)
    bank.notify(paid)
    pending = bank.checkout({"biller": "WATER01", "account_no": "31005678", "bill": [waiting.pk]})
    cashier = bank.cashier_url
    # Start here, finish there: the phone's page of the pending order's QR; a partner's hosted pay page.
    _handoff, handoff_token = handoff.start_handoff(order=pending, user=user)
    hosted = _hosted_checkout(waiting)
    payment = Payment.objects.get(pk=paid.lines.exclude(payment=None).values_list("payment", flat=True)[0])
    receipt = selectors.receipt_token(payment)
    code = selectors.verification_code(payment.receipt_no)
    complaint = raise_complaint(
        receipt_no=payment.receipt_no,
        reason="paid_still_due",
        contact_name="张小明",
        contact_phone="13800138000",
        details="银行已扣款，账单仍显示未缴。",
    )

    branch = BranchFactory(code="BR-X", name="滨江邮政支局", district="滨江区", phone="0571-88888888")
    BranchFactory(code="BR-Y", name="长河便利店代收点", district="滨江区")
    clerk = make_user(get_user_model(), "dave", roles.BRANCH_CLERK, branch)
    newcomer = make_user(get_user_model(), "erin", roles.BRANCH_CLERK, branch)
    supervisor = make_user(
        get_user_model(), "sam", roles.BRANCH_SUPERVISOR, branch, branch_role=BranchRole.SUPERVISOR
    )
    till = branch_services.open_till(clerk=clerk, branch=branch, opening_float="500.00")
    counter_bill = BillFactory(account=home, period="2026-11", amount_due=Decimal("86.50"))
    taken = take_cash(clerk, till, counter_bill)
    cash_receipt = taken.counter_payment.payment.receipt_no
    # Card top-ups waiting for their write (billing.topups): one paid online by a guest, one at the counter.
    guest_bank = Bank(Client())
    card_order = guest_bank.checkout({"biller": "GASCARD", "account_no": "77001234", "amount": "50.00"})
    guest_bank.pay(card_order)
    guest_bank.notify(card_order)
    card_receipt = selectors.receipt_token(card_order.lines.get().payment)
    card_cash_receipt = branch_services.take_cash(
        clerk=clerk,
        till_id=till.pk,
        biller_code="GASCARD",
        account_no="77001234",
        periods=[],
        amount="60.00",
        tendered="100.00",
        form_key="walk-card",
    ).counter_payment.payment.receipt_no

    water.refresh_from_db()  # its defaults as the database holds them (Decimal limits)
    batch = proxy.validate_upload(
        user=user,
        biller=water,
        file_name="社区代缴.csv",
        data="account_no,amount,name\n31005678,100.00,张小明\n39999999,20.00,查无此户\n".encode(),
    )
    # Auto-pay (代扣): an active mandate on the power account with next month's bill scheduled, and one
    # for the water account still waiting at the sandbox bank's agreement page.
    power_mandate = active_mandate(user, BoundAccount.objects.get(user=user, account=flat), notice_days=3)
    BillFactory(account=flat, period="2026-11", amount_due=Decimal("58.20"))
    mandates.schedule_debits()
    waiting_mandate = mandates.create_mandate(
        user=user,
        bound=BoundAccount.objects.get(user=user, account=home),
        cap_per_bill="150.00",
        valid_from=timezone.localdate(),
        valid_until=timezone.localdate() + datetime.timedelta(days=365),
        notice_days=2,
        gateway_code="SANDBOX",
    )
    agreement_page = client.get(
        mandates.agreement_url(waiting_mandate, return_url="http://testserver/me/autopay/return/SANDBOX/")
    ).url
    # Family payment (亲情付): the citizen invited someone, and pays their mother's bills within limits.
    family.invite(owner=user, label="儿子", per_payment_limit="200.00", monthly_limit="500.00")
    mum = get_user_model().objects.create_user(
        "mum", "mum@example.com", "Portal-pass-2026", first_name="桂英"
    )
    mums = CustomerAccountFactory(biller=water, account_no="31009999", holder_name="王桂英")
    BillFactory(account=mums, period="2026-10", amount_due=Decimal("36.80"))
    BoundAccount.objects.create(user=mum, account=mums, label="妈妈家水费")
    shared = family.accept(
        member=user,
        token=family.invite(
            owner=mum, label="小明", per_payment_limit="100.00", monthly_limit="300.00"
        ).invite_token,
    )
    pending_invite = family.invite(owner=mum, label="小红", per_payment_limit="50.00", monthly_limit="50.00")
    dispute = raise_dispute(
        channel="portal",
        user=user,
        reason="D12",
        receipt_no=payment.receipt_no,
        contact_email="xm@example.com",
    )
    link = pay_token(waiting)
    # A school's tuition for a named student, with an early-payment discount, offered in three instalments.
    school = BillerFactory(code="SCHOOL1", name="滨江实验小学", name_en="Binjiang Primary School")
    tuition = BillFactory(
        account=CustomerAccountFactory(biller=school, account_no="80001234", holder_name="张大明"),
        period="2026-12",
        amount_due=Decimal("4800.00"),
        due_date=timezone.localdate() + datetime.timedelta(days=60),
        early_discount=Decimal("200.00"),
        discount_until=timezone.localdate() + datetime.timedelta(days=10),
        beneficiary_kind="student",
        beneficiary_name="张小明",
    )
    offer_instalments(
        bill=tuition,
        parts=equal_parts(
            tuition.amount_due, count=3, first_due=tuition.due_date - datetime.timedelta(days=30)
        ),
        actor=None,
    )
    walk = Walk()
    walk.sessions = {
        "citizen": _session_of(user),
        "clerk": _session_of(clerk),
        "newcomer": _session_of(newcomer),
        "supervisor": _session_of(supervisor),
    }
    order_token = paid.access_token
    walk.citizen_pages = [
        Page("home", "/"),
        Page("billers", "/billers/"),
        Page("biller", "/billers/WATER01/"),
        Page("lookup", "/billers/WATER01/?account_no=31005678"),
        Page("lookup-part", "/billers/HEAT01/?account_no=61001234"),
        Page("lookup-part-amount", "/billers/HEAT01/?account_no=61001234&amount=60"),
        Page("lookup-prepaid", "/billers/GASCARD/?account_no=77001234"),
        Page("donation", "/billers/CHARITY/"),
        Page("lookup-unknown", "/billers/WATER01/?account_no=39999999"),
        Page("pay-link", f"/pay/{link}/"),
        Page("pay-link-qr", f"/pay/{link}/qr/"),
        Page("pay-link-instalments", f"/pay/{pay_token(tuition)}/"),
        Page("pay-link-invalid", "/pay/not-a-token/"),
        Page("bank-cashier", cashier),
        Page("order-pending", f"/orders/{pending.access_token}/"),
        Page("order-paid", f"/orders/{order_token}/"),
        Page("order-handoff", f"/orders/{pending.access_token}/handoff/"),
        Page("handoff-open", f"/handoff/{handoff_token}/"),
        Page("hosted-checkout", f"/hosted/{hosted.token}/"),
        Page("order-receipts", f"/orders/{order_token}/receipts/"),
        Page("receipt", f"/receipts/{receipt}/"),
        Page("receipt-card-held", f"/receipts/{card_receipt}/"),
        Page("verify", "/verify/"),
        Page("verify-result", f"/verify/{payment.receipt_no}/{code}/"),
        Page("outlets", "/outlets/?district=滨江区"),
        Page("outlet", "/outlets/BR-X/"),
        Page("complaint-new", "/complaints/new/"),
        Page("complaint-status", f"/complaints/{complaint.token}/"),
        Page("login", "/accounts/login/"),
        Page("login-code", "/accounts/login/code/"),
        Page("signup", "/accounts/signup/"),
        Page("password-reset", "/accounts/password/reset/"),
        Page("not-found", "/no-such-page/"),
        Page("my-accounts", "/me/accounts/", "citizen"),
        Page("history", "/me/history/", "citizen"),
        Page("proxy-upload", "/me/proxy/", "citizen"),
        Page("proxy-batch", f"/me/proxy/{batch.public_id}/", "citizen"),
        Page("autopay", "/me/autopay/", "citizen"),
        Page("autopay-mandate", f"/me/autopay/{power_mandate.public_id}/", "citizen"),
        Page("bank-agreement", agreement_page),
        Page("family", "/me/family/", "citizen"),
        Page("family-pay", f"/me/family/{shared.public_id}/", "citizen"),
        Page("family-invite", f"/me/family/invite/{pending_invite.invite_token}/", "citizen"),
        Page("disputes", "/disputes/", "citizen"),
        Page("dispute-new", f"/disputes/new/?receipt={payment.receipt_no}", "citizen"),
        Page("dispute", f"/disputes/{dispute.ref}/", "citizen"),
        Page("forbidden", "/counter/", "citizen"),
        Page("logout", "/accounts/logout/", "citizen"),
    ]
    walk.counter_pages = [
        Page("counter-open-till", "/counter/", "newcomer"),
        Page("counter-home", "/counter/", "clerk"),
        Page("counter-lookup", "/counter/lookup/?q=31005678&biller=WATER01", "clerk"),
        Page("counter-receipt", f"/counter/receipt/{cash_receipt}/", "clerk"),
        Page("counter-lookup-card", "/counter/lookup/?q=77001234&biller=GASCARD", "clerk"),
        Page("counter-receipt-card", f"/counter/receipt/{card_cash_receipt}/", "clerk"),
        Page("counter-void", f"/counter/receipt/{cash_receipt}/void/", "clerk"),
        Page("counter-close", "/counter/till/close/", "clerk"),
        Page("counter-day-report", "/counter/report/", "clerk"),
        Page("counter-reports", "/counter/reports/", "clerk"),
        Page("counter-coverage", "/counter/coverage/", "supervisor"),
        Page("counter-dispute-new", f"/counter/disputes/new/?receipt={cash_receipt}", "clerk"),
    ]
    return walk


def new_context(
    browser, base_url: str, *, viewport: dict, large: bool, language: str, session: str = "", bypass_csp=False
):
    """A browser context as a citizen sets it up: the language and large-text cookies the page switches
    set, and a signed-in session when the page needs one. `bypass_csp` lets a test inject a checker (axe)
    into pages whose Content-Security-Policy allows no inline script."""
    context = browser.new_context(
        viewport=viewport, locale="zh-CN" if language == "zh-hans" else "en-US", bypass_csp=bypass_csp
    )
    cookies = [{"name": "django_language", "value": language, "url": base_url}]
    if large:
        cookies.append({"name": "elderly_mode", "value": "1", "url": base_url})
    if session:
        cookies.append({"name": "sessionid", "value": session, "url": base_url})
    context.add_cookies(cookies)
    return context


def contexts_by_who(browser, base_url: str, walk: Walk, **settings) -> dict:
    """One context per person of the walk (anonymous, citizen, clerk…), each with the same settings."""
    contexts = {"anonymous": new_context(browser, base_url, **settings)}
    for who, session in walk.sessions.items():
        contexts[who] = new_context(browser, base_url, session=session, **settings)
    return contexts


def open_page(contexts: dict, pages: dict, base_url: str, page: Page):
    """Open the walk's page in its person's context (one tab per person, reused) and wait for it."""
    if page.who not in pages:
        pages[page.who] = contexts[page.who].new_page()
    tab = pages[page.who]
    response = tab.goto(base_url + page.path, wait_until="load")
    assert response is not None and response.status < 500, (page.name, response and response.status)
    return tab


RELOADED = ("context was destroyed", "interrupted by another navigation")


def check_page(contexts: dict, tabs: dict, base_url: str, page: Page, check):
    """Open the page and return check(tab, page). A page that reloads itself (the pending order page,
    until branch i14b's polling replaces it) may do so during the check: it is opened and checked again."""
    for attempt in range(3):
        try:
            return check(open_page(contexts, tabs, base_url, page), page)
        except PlaywrightError as error:
            if attempt == 2 or not any(reason in str(error) for reason in RELOADED):
                raise
    return None
