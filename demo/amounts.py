"""The demo of amounts that change with the date (issue 17, item 2): the traffic police charge 3% of a
fine a day after its due date, up to the fine itself (行政处罚法 第七十二条), with a few fresh fines whose
late fee grows day by day; and a primary school whose next term's fee is ¥120 less when paid within ten
days, each bill naming the pupil it is for (item 6), every other one also offered in three
instalments (item 3). Runs after the demo's history is posted (the
history's fines carry the late fee of the seeding day). Idempotent: what exists is left as it is.

The traffic police share each fine with the province (item 4, `ensure_traffic_split`): 30% of every fine
is the province's, remitted to the provincial treasury; the city keeps the rest and the late fees. Set
before the history is posted, so the demo's settled day shows both credits."""

import datetime
import random
from decimal import Decimal

from billing.choices import BeneficiaryKind, BillerStatus, ShareRule
from billing.models import Bill, Biller, BillerCategory, CollectionShare, CustomerAccount
from billing.services import change_biller_status, offer_instalments, set_collection_shares, set_late_fee_rule
from demo.data import full_name, home_address

TRAFFIC = "BJ-TRAFFIC"
TRAFFIC_RATE, TRAFFIC_CAP = Decimal("0.030000"), Decimal("1.0000")
# (account number, fine, days from the seeding day to its due date, what for)
FRESH_FINES = (
    ("3391000000000017", "200.00", -3, "机动车违反禁止标线指示 滨A·K3862"),
    ("3391000000000025", "150.00", -1, "驾驶中使用手机 滨B·M5519"),
    ("3391000000000033", "100.00", 5, "机动车违反规定停放 滨C·Q2047"),
)
PROVINCE_PERCENT = Decimal("30.00")
SCHOOL = "BJ-SCHOOL1"
SCHOOL_STUDENTS = 12
SCHOOL_FEE, SCHOOL_DISCOUNT = Decimal("2400.00"), Decimal("120.00")
SCHOOL_DUE_DAYS, SCHOOL_DISCOUNT_DAYS = 30, 10


def seed(*, users, billers, branches, summary) -> None:
    admin = users["admin"]
    anchor = summary.anchor
    traffic = billers.get(TRAFFIC) or Biller.objects.get(code=TRAFFIC)
    if not traffic.late_fee_daily_rate:
        set_late_fee_rule(
            biller=traffic,
            daily_rate=TRAFFIC_RATE,
            cap_rate=TRAFFIC_CAP,
            actor=admin,
            reason="演示数据初始化",
        )
    rng = random.Random(17)
    for account_no, fine, days, what in FRESH_FINES:
        account, _ = CustomerAccount.objects.get_or_create(
            biller=traffic,
            account_no=account_no,
            defaults={"holder_name": full_name(rng), "address": home_address(rng)},
        )
        Bill.objects.get_or_create(
            account=account,
            period=f"{anchor:%Y-%m}",
            defaults={
                "biller": traffic,
                "amount_due": Decimal(fine),
                "due_date": anchor + datetime.timedelta(days=days),
                "description": what,
            },
        )
    school = _school(admin)
    due = anchor + datetime.timedelta(days=SCHOOL_DUE_DAYS)
    for index in range(1, SCHOOL_STUDENTS + 1):
        account, _ = CustomerAccount.objects.get_or_create(
            biller=school,
            account_no=f"{anchor.year}{index:04d}",
            defaults={"holder_name": full_name(rng), "address": home_address(rng)},
        )
        bill, created = Bill.objects.get_or_create(
            account=account,
            period=f"{anchor:%Y-%m}",
            defaults={
                "biller": school,
                "amount_due": SCHOOL_FEE,
                "due_date": anchor + datetime.timedelta(days=SCHOOL_DUE_DAYS),
                "early_discount": SCHOOL_DISCOUNT,
                "discount_until": anchor + datetime.timedelta(days=SCHOOL_DISCOUNT_DAYS),
                "description": "下学期学杂费及午餐费（十日内缴清优惠120元）",
                # The account is the parent's; the bill names the pupil (issue 17, item 6).
                "beneficiary_kind": BeneficiaryKind.STUDENT,
                "beneficiary_name": account.holder_name[0] + full_name(rng)[1:],
            },
        )
        if created and index % 2 == 0:  # every other family may pay in three instalments (item 3)
            offer_instalments(
                bill=bill,
                parts=[(SCHOOL_FEE / 3, due + datetime.timedelta(days=30 * n)) for n in range(3)],
                actor=admin,
                reason="演示数据初始化",
            )


def ensure_traffic_split(*, admin, billers) -> None:
    """The city/province split of the traffic police's fines (issue 17, item 4), once."""
    traffic = billers.get(TRAFFIC) or Biller.objects.get(code=TRAFFIC)
    if CollectionShare.objects.filter(biller=traffic).exists():
        return
    province = CollectionShare(
        code="PROV",
        name="滨江省财政厅",
        name_en="Binjiang Provincial Treasury",
        rule=ShareRule.PERCENT,
        percentage=PROVINCE_PERCENT,
        position=1,
        settlement_bank_name="国家金库滨江省分库",
        settlement_account_name="滨江省财政厅",
        settlement_account_no="270133010000000001",
    )
    set_collection_shares(
        biller=traffic, shares=[province], actor=admin, reason="演示数据初始化：罚款市、省分成"
    )


def _school(admin) -> Biller:
    school, created = Biller.objects.get_or_create(
        code=SCHOOL,
        defaults={
            "name": "滨江市实验小学",
            "name_en": "Binjiang Experimental Primary School",
            "legal_name": "滨江市实验小学",
            "category": BillerCategory.objects.get(code="tuition"),
            "account_pattern": r"^\d{8}$",
            "account_hint": "学籍号为8位数字：入学年份4位+序号4位，如 20260001",
            "account_hint_en": "8 digits: the year of entry and a number, such as 20260001",
        },
    )
    if created:
        for status in (BillerStatus.SUBMITTED, BillerStatus.APPROVED, BillerStatus.ACTIVE):
            school = change_biller_status(
                biller=school, to_status=status, actor=admin, reason="演示数据初始化"
            )
    return school
