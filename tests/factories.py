"""Test data, built the way production builds it where money is concerned (through the services)."""

import datetime
from decimal import Decimal

import factory

from billing.choices import AmountRule, BillerStatus, Channel, PaymentMode
from billing.models import Bill, Biller, BillerCategory, CustomerAccount, FeeSchedule
from billing.uscc import make_uscc
from branches.choices import OperatorKind
from branches.models import Branch, Operator
from payers.models import Payer


class BillerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Biller

    code = factory.Sequence(lambda n: f"B{n:04d}")
    name = factory.Sequence(lambda n: f"测试水务公司{n}")
    name_en = factory.Sequence(lambda n: f"Test Water Co {n}")
    category = factory.LazyFunction(lambda: BillerCategory.objects.get(code="water"))
    status = BillerStatus.ACTIVE
    payment_mode = PaymentMode.STATEMENT
    amount_rule = AmountRule.EXACT
    account_pattern = r"^\d{8}$"
    account_hint = "户号为8位数字"


class CustomerAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CustomerAccount

    biller = factory.SubFactory(BillerFactory)
    account_no = factory.Sequence(lambda n: f"{10000000 + n}")
    holder_name = "张小明"


class BillFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Bill

    account = factory.SubFactory(CustomerAccountFactory)
    biller = factory.SelfAttribute("account.biller")
    period = "2026-09"
    amount_due = Decimal("100.00")
    due_date = datetime.date(2026, 10, 20)


class OperatorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Operator
        django_get_or_create = ["code"]

    code = "POST"
    name = "中国邮政"
    kind = OperatorKind.POST_OFFICE


class BranchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Branch

    code = factory.Sequence(lambda n: f"BR{n:03d}")
    name = factory.Sequence(lambda n: f"滨江邮政支局{n}")
    operator = factory.SubFactory(OperatorFactory)
    district = "滨江区"
    address = "江南大道1号"


class PayerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Payer

    display_name = "李四"


class FeeScheduleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FeeSchedule

    biller = factory.SubFactory(BillerFactory)
    channel = Channel.ONLINE
    fixed_fee = Decimal("0.00")
    percentage = Decimal("0.0030")
    min_fee = Decimal("0.10")
    max_fee = Decimal("5.00")
    valid_from = datetime.date(2026, 1, 1)


class OnboardingBillerFactory(BillerFactory):
    """A draft biller with every piece of onboarding data `submit_biller` asks for, fee schedule included."""

    class Meta:
        skip_postgeneration_save = True

    status = BillerStatus.DRAFT
    legal_name = factory.Sequence(lambda n: f"测试市自来水有限公司{n}")
    uscc = factory.Sequence(lambda n: make_uscc("91350100", f"M{n:07d}"))
    settlement_bank_name = "中国工商银行测试支行"
    settlement_account_name = factory.SelfAttribute("legal_name")
    settlement_account_no = "6222020200112233445"
    contact_name = "王芳"
    contact_phone = "0591-87654321"
    contact_email = "finance@water.example.com"
    fee_schedule = factory.RelatedFactory(FeeScheduleFactory, factory_related_name="biller")
