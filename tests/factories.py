"""Test data, built the way production builds it where money is concerned (through the services)."""

import datetime
from decimal import Decimal

import factory

from billing.choices import AmountRule, BillerStatus, PaymentMode
from billing.models import Bill, Biller, BillerCategory, CustomerAccount
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
