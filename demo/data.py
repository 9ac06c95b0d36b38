"""The demo region's data: names and places, account numbers, the billers with their account and bill
makers, the outlets and the demo users, and the shapes of the plan built from them (see `demo`)."""

import datetime
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from billing import roles
from billing.choices import AmountRule, CheckDigit, PaymentMode
from billing.money import CENT, ZERO, quantize_money
from billing.rules import luhn_is_valid, mod11_2_is_valid
from branches.choices import OperatorKind

SEED = 20240915
DEFAULT_ACCOUNTS = 2000
MAX_ACCOUNTS = 50_000  # beyond it some account number schemes below would run out of numbers
DEMO_PASSWORD = "demo1234"
SITE_URL = "http://127.0.0.1:8000"
CITY = "滨江市"
ANCHOR_BILLER = "BJ-WATER"

# ---------------------------------------------------------------------------------------------------
# Names and places
# ---------------------------------------------------------------------------------------------------

# Common surnames, most frequent first (weighted accordingly); a compound one now and then.
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "慕容")
SURNAME_WEIGHTS = [1 / (rank + 6) for rank in range(len(SURNAMES))]
MALE_GIVEN = "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆旭宁龙林峰建国志文博晨睿泽轩子一天思昊然毅荣"
FEMALE_GIVEN = "芳娜敏静丽艳娟霞秀玲桂英梅琳燕萍红洁婷雪慧颖倩佳欣怡琪雨涵诗梓萱可馨悦晓嘉瑶璐"

DISTRICTS = ("江南区", "江北区", "滨湖区", "高新区", "临江区", "西山区")
# Six-digit administrative codes of the districts, the first digits of a resident ID number.
DISTRICT_CODES = ("339001", "339002", "339003", "339004", "339005", "339006")
ROADS = (
    "江南大道",
    "滨江路",
    "文化路",
    "人民路",
    "建设路",
    "解放路",
    "学府路",
    "湖滨路",
    "新华路",
    "中山路",
    "东风路",
    "长江路",
    "科技大道",
    "望江路",
    "体育场路",
)
COMMUNITIES = (
    "滨江花园",
    "阳光小区",
    "翠苑",
    "锦绣江南",
    "湖畔家园",
    "金色家园",
    "望江新村",
    "桂花城",
    "星海湾",
    "春晓苑",
    "东方名苑",
    "和谐家园",
    "丽水苑",
    "幸福里",
)
PROPERTY_COMMUNITIES = ("滨江花园", "锦绣江南", "星海湾", "春晓苑")
COLLEGES = (
    ("计算机科学与技术", 5800),
    ("经济管理", 5500),
    ("外国语", 5200),
    ("机械工程", 5500),
    ("土木工程", 5500),
    ("医学", 6800),
    ("法学", 5200),
    ("文学与新闻传播", 5000),
    ("数学与统计", 5000),
    ("化学化工", 5500),
    ("艺术设计", 10000),
    ("电气工程", 5800),
)
NON_TAX_ITEMS = (
    ("不动产登记费", "80.00"),
    ("不动产登记工本费", "10.00"),
    ("居民身份证工本费", "20.00"),
    ("护照工本费", "120.00"),
    ("机动车号牌工本费", "100.00"),
    ("教师资格考试报名费", "70.00"),
    ("城市道路占用费", "360.00"),
    ("污水处理费（非居民）", "1260.00"),
    ("土地复垦费", "4800.00"),
)
TRAFFIC_OFFENCES = (
    ("机动车违反规定停放", "150.00"),
    ("违反禁止标线指示", "100.00"),
    ("超速未达20%", "200.00"),
    ("驾驶人未按规定使用安全带", "50.00"),
    ("驾驶时拨打接听手持电话", "200.00"),
    ("不按导向车道行驶", "100.00"),
    ("机动车违反禁令标志指示", "100.00"),
    ("遇行人未停车让行", "200.00"),
)
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
MOBILE_PREFIXES = ("138", "139", "150", "151", "158", "177", "186", "189", "133", "199")
PARTNERS = ("ALIPAY", "WXPAY", "UNIONPAY", "ICBC", "CCB")
# The payment gateways of the portal's online channel in the demo; the citizen pays at the sandbox bank.
# Each sends its own kind of statement (demo.reconciliation): the bank a camt.053, Alipay its business
# detail bill, WeChat Pay its trade bill; the partners the platform's CSV.
ONLINE_GATEWAYS = ("SANDBOX", "ALIPAY", "WECHAT")
CITIZEN_GATEWAY = "SANDBOX"

CITIZEN = {"username": "citizen", "name": "王小明", "mobile": "13857101234", "email": "citizen@example.com"}
CITIZEN_ADDRESS = f"{CITY}江南区滨江路88号滨江花园3幢2单元1502室"
# The citizen's own household: account 0 of these billers belongs to them, paid online in their name.
CITIZEN_BILLERS = ("BJ-WATER", "BJ-POWER", "BJ-GAS", "BJ-PROPERTY", "BJ-TELECOM")


def full_name(rng: random.Random, *, male: bool | None = None) -> str:
    """A plausible Chinese full name: a frequency-weighted surname and one or two given characters."""
    if male is None:
        male = rng.random() < 0.5
    surname = (
        rng.choice(COMPOUND_SURNAMES) if rng.random() < 0.01 else rng.choices(SURNAMES, SURNAME_WEIGHTS)[0]
    )
    pool = MALE_GIVEN if male else FEMALE_GIVEN
    given = rng.choice(pool) if rng.random() < 0.3 else rng.choice(pool) + rng.choice(pool)
    return surname + given


def home_address(rng: random.Random) -> str:
    street = f"{CITY}{rng.choice(DISTRICTS)}{rng.choice(ROADS)}{rng.randint(1, 388)}号"
    building = f"{rng.choice(COMMUNITIES)}{rng.randint(1, 24)}幢{rng.randint(1, 4)}单元"
    return f"{street}{building}{rng.randint(1, 28)}{rng.randint(1, 4):02d}室"


# ---------------------------------------------------------------------------------------------------
# Account numbers: unique by construction (a bijection of the account's index), check digits where due
# ---------------------------------------------------------------------------------------------------


def scrambled(index: int, digits: int) -> str:
    """`index` spread over `digits` digits so numbers look random; a bijection for index < 10**digits
    (the multiplier is prime to 10), so accounts never collide."""
    return f"{(index * 982451653 + 271828182845) % 10**digits:0{digits}d}"


def with_luhn(body: str) -> str:
    """Append the Luhn check digit (mod 10), as on bank and transport cards."""
    return next(body + digit for digit in "0123456789" if luhn_is_valid(body + digit))


def with_mod11_2(body: str) -> str:
    """Append the ISO 7064 MOD 11-2 check character of a resident ID number."""
    return next(body + char for char in "0123456789X" if mod11_2_is_valid(body + char))


def resident_id(rng: random.Random, index: int, *, born_from: int, born_until: int) -> str:
    """An 18-character resident ID number: district code, birth date, sequence (odd for men), check.
    Unique per index below 6,000: the district and the sequence number are the index itself."""
    first, last = datetime.date(born_from, 1, 1), datetime.date(born_until, 12, 31)
    born = first + datetime.timedelta(days=rng.randint(0, (last - first).days))
    district = DISTRICT_CODES[(index // 1000) % len(DISTRICT_CODES)]
    return with_mod11_2(f"{district}{born:%Y%m%d}{index % 1000:03d}")


# ---------------------------------------------------------------------------------------------------
# The plan: pure data, built without touching the database
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    code: str  # YYYY-MM
    month: int
    due_date: datetime.date


@dataclass(frozen=True)
class BillPlan:
    period: Period
    amount_due: Decimal
    description: str = ""
    late_fee: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.amount_due + self.late_fee


@dataclass(frozen=True)
class PaymentPlan:
    key: str
    biller_code: str
    amount: Decimal
    channel: str
    account_no: str = ""
    periods: tuple[str, ...] = ()
    branch_code: str | None = None
    channel_ref: str = ""
    by_citizen: bool = False


@dataclass(frozen=True)
class AccountPlan:
    biller_code: str
    account_no: str
    holder_name: str
    address: str
    opened: datetime.date
    bills: tuple[BillPlan, ...] = ()
    payments: tuple[PaymentPlan, ...] = ()


@dataclass(frozen=True)
class NewAccount:
    account_no: str
    holder_name: str
    address: str


@dataclass(frozen=True)
class BillerSpec:
    code: str
    name: str
    name_en: str
    legal_name: str
    category: str
    account_hint: str
    payment_mode: str = PaymentMode.STATEMENT
    amount_rule: str = AmountRule.EXACT
    account_pattern: str = r"^\d{6,20}$"
    check_digit: str = CheckDigit.NONE
    min_amount: Decimal = Decimal("0.01")
    max_amount: Decimal | None = None
    accepts_cash: bool = True
    accounts_per_2000: int = 0
    # (index, rng, anchor) -> the account's number, holder and address
    new_account: Callable[[int, random.Random, datetime.date], NewAccount] | None = None
    # (rng, the 12 periods, anchor, account) -> the account's bills, oldest first
    bills: Callable[[random.Random, list[Period], datetime.date, NewAccount], list[BillPlan]] | None = None
    # (rng, amount, days overdue) -> late fee on a bill left unpaid, or None for no late fees
    late_fee: Callable[[random.Random, Decimal, int], Decimal] | None = None
    topups: tuple[int, ...] = field(default=())


def billing_periods(anchor: datetime.date) -> list[Period]:
    """The twelve months before the anchor's month, oldest first; each due on the 20th of the next month."""
    periods = []
    for back in range(12, 0, -1):
        year, month = divmod(anchor.year * 12 + anchor.month - 1 - back, 12)
        month += 1
        due_year, due_month = divmod(year * 12 + month, 12)
        periods.append(Period(f"{year:04d}-{month:02d}", month, datetime.date(due_year, due_month + 1, 20)))
    return periods


def between(rng: random.Random, low: str, high: str) -> Decimal:
    """A random amount in [low, high] to the fen, without floats."""
    low_d, high_d = Decimal(low), Decimal(high)
    return low_d + CENT * rng.randint(0, int((high_d - low_d) / CENT))


def factor(rng: random.Random, spread_percent: int) -> Decimal:
    """A multiplier of 1 ± spread_percent %, in whole per mille."""
    return Decimal(1000 + rng.randint(-10 * spread_percent, 10 * spread_percent)) / 1000


# --- account makers -------------------------------------------------------------------------------


def water_account(index: int, rng: random.Random, anchor: datetime.date) -> NewAccount:
    return NewAccount(with_luhn("3" + scrambled(index, 8)), full_name(rng), home_address(rng))


def power_account(index: int, rng: random.Random, anchor: datetime.date) -> NewAccount:
    return NewAccount("51" + scrambled(index, 8), full_name(rng), home_address(rng))


def gas_account(index: int, rng: random.Random, anchor: datetime.date) -> NewAccount:
    return NewAccount("8" + scrambled(index, 7), full_name(rng), home_address(rng))


def heating_account(index: int, rng: random.Random, anchor: datetime.date) -> NewAccount:
    return NewAccount("RL" + scrambled(index, 8), full_name(rng), home_address(rng))


def property_account(index: int, rng: random.Random, anchor: datetime.date) -> NewAccount:
    """Community (2 digits), building (2) and room (4): 24 flats a building, four communities."""
    community, flat = index % len(PROPERTY_COMMUNITIES), index // len(PROPERTY_COMMUNITIES)
    building, floor, room = flat // 24 + 1, (flat // 2) % 12 + 2, flat % 2 + 1
    street = f"{CITY}高新区科技大道{100 + community * 20}号"
    address = f"{street}{PROPERTY_COMMUNITIES[community]}{building}幢{floor}{room:02d}室"
    return NewAccount(f"{community + 1:02d}{building:02d}{floor:02d}{room:02d}", full_name(rng), address)


def student_account(index: int, rng: random.Random, anchor: datetime.date) -> NewAccount:
    """Student number: cohort year, college, serial — one of the four cohorts now studying."""
    cohort = academic_year(anchor) - index % 4
    college = (index // 4) % len(COLLEGES)
    number = f"{cohort}{college + 1:02d}{index // 48:04d}"
    return NewAccount(number, full_name(rng), f"滨江大学{COLLEGES[college][0]}学院 {cohort}级")


def patient_account(index: int, rng: random.Random, anchor: datetime.date) -> NewAccount:
    return NewAccount("6" + scrambled(index, 8), full_name(rng), home_address(rng))


def worker_account(index: int, rng: random.Random, anchor: datetime.date) -> NewAccount:
    number = resident_id(rng, index, born_from=1968, born_until=2000)
    return NewAccount(number, full_name(rng, male=int(number[16]) % 2 == 1), home_address(rng))


def resident_account(index: int, rng: random.Random, anchor: datetime.date) -> NewAccount:
    number = resident_id(rng, index, born_from=1940, born_until=2023)
    return NewAccount(number, full_name(rng, male=int(number[16]) % 2 == 1), home_address(rng))


def notice_account(index: int, rng: random.Random, anchor: datetime.date) -> NewAccount:
    """A 20-digit payment code printed on a non-tax payment notice (非税收入缴款通知书)."""
    return NewAccount("3390" + scrambled(index, 16), full_name(rng), home_address(rng))


def fine_account(index: int, rng: random.Random, anchor: datetime.date) -> NewAccount:
    """The 16-digit number of a penalty decision (处罚决定书编号)."""
    return NewAccount(
        "3390" + scrambled(index, 12), full_name(rng, male=rng.random() < 0.7), home_address(rng)
    )


def mobile_account(index: int, rng: random.Random, anchor: datetime.date) -> NewAccount:
    prefix = MOBILE_PREFIXES[index % len(MOBILE_PREFIXES)]
    return NewAccount(prefix + scrambled(index // len(MOBILE_PREFIXES), 8), full_name(rng), "")


def transport_card_account(index: int, rng: random.Random, anchor: datetime.date) -> NewAccount:
    return NewAccount(with_luhn("3107" + scrambled(index, 7)), full_name(rng), "")


def academic_year(day: datetime.date) -> int:
    """The year the current academic year began (in September)."""
    return day.year if day.month >= 9 else day.year - 1


# --- bill makers ----------------------------------------------------------------------------------

WATER_SEASON = {1: 90, 2: 90, 3: 95, 4: 100, 5: 105, 6: 115, 7: 130, 8: 130, 9: 110, 10: 100, 11: 95, 12: 90}
POWER_SEASON = {1: 135, 2: 125, 3: 95, 4: 85, 5: 90, 6: 115, 7: 165, 8: 170, 9: 120, 10: 90, 11: 95, 12: 125}
GAS_SEASON = {1: 190, 2: 170, 3: 130, 4: 100, 5: 80, 6: 65, 7: 60, 8: 60, 9: 70, 10: 90, 11: 130, 12: 175}


def water_bills(rng: random.Random, periods: list[Period], anchor, account) -> list[BillPlan]:
    """About 8–25 m³ a month, more in summer, at ¥3.80 a m³ (water and sewage together)."""
    usual = rng.randint(8, 25)
    bills = []
    for period in periods:
        cubic_metres = max(1, round(usual * WATER_SEASON[period.month] * factor(rng, 15) / 100))
        bills.append(BillPlan(period, quantize_money(cubic_metres * Decimal("3.80"))))
    return bills


def power_bills(rng: random.Random, periods: list[Period], anchor, account) -> list[BillPlan]:
    """120–350 kWh a month, peaks in summer and winter, on the residential three-tier tariff."""
    usual = rng.randint(120, 350)
    bills = []
    for period in periods:
        kwh = max(10, round(usual * POWER_SEASON[period.month] * factor(rng, 12) / 100))
        bills.append(BillPlan(period, tiered_power_price(kwh)))
    return bills


def tiered_power_price(kwh: int) -> Decimal:
    first, second = min(kwh, 230), min(max(kwh - 230, 0), 170)
    third = max(kwh - 400, 0)
    return quantize_money(first * Decimal("0.538") + second * Decimal("0.588") + third * Decimal("0.838"))


def gas_bills(rng: random.Random, periods: list[Period], anchor, account) -> list[BillPlan]:
    """10–30 m³ a month, twice as much in winter, at ¥3.05 a m³."""
    usual = rng.randint(10, 30)
    bills = []
    for period in periods:
        cubic_metres = max(1, round(usual * GAS_SEASON[period.month] * factor(rng, 15) / 100))
        bills.append(BillPlan(period, quantize_money(cubic_metres * Decimal("3.05"))))
    return bills


def heating_bills(rng: random.Random, periods: list[Period], anchor, account) -> list[BillPlan]:
    """One bill a season, issued in October: ¥25 a m² of floor area."""
    area = Decimal(rng.randint(550, 1450)) / 10
    october = next(p for p in periods if p.month == 10)
    season = f"{october.code[:4]}-{int(october.code[:4]) + 1}"
    return [BillPlan(october, quantize_money(area * 25), f"{season}采暖季供暖费（{area}㎡）")]


def property_bills(rng: random.Random, periods: list[Period], anchor, account) -> list[BillPlan]:
    """Monthly management fee: floor area times the community's rate."""
    area = Decimal(rng.randint(680, 1480)) / 10
    rate = Decimal(("1.80", "2.50", "3.20", "2.20")[PROPERTY_COMMUNITIES.index(property_community(account))])
    monthly = quantize_money(area * rate)
    return [BillPlan(p, monthly, f"{p.code}物业服务费（{area}㎡×{rate}元）") for p in periods]


def property_community(account: NewAccount) -> str:
    return next(name for name in PROPERTY_COMMUNITIES if name in account.address)


def tuition_bills(rng: random.Random, periods: list[Period], anchor, account) -> list[BillPlan]:
    """Two semesters a year (issued in August and February): half the year's tuition and dormitory."""
    cohort = int(account.account_no[:4])
    college_fee = COLLEGES[int(account.account_no[4:6]) - 1][1]
    semester = quantize_money(Decimal(college_fee + 1200) / 2)
    bills = []
    for period in periods:
        year = int(period.code[:4])
        if period.month == 8 and year >= cohort:
            bills.append(BillPlan(period, semester, f"{year}-{year + 1}学年第一学期学费及住宿费"))
        elif period.month == 2 and year - 1 >= cohort:
            bills.append(BillPlan(period, semester, f"{year - 1}-{year}学年第二学期学费及住宿费"))
    return bills


def hospital_bills(rng: random.Random, periods: list[Period], anchor, account) -> list[BillPlan]:
    """One to three visits a year: mostly outpatient, sometimes an inpatient stay (the self-paid part)."""
    bills = []
    for period in sorted(rng.sample(periods, rng.choice((1, 1, 2, 3))), key=lambda p: p.code):
        if rng.random() < 0.25:
            bills.append(BillPlan(period, between(rng, "1800", "16000"), "住院费用（出院结算自付部分）"))
        else:
            bills.append(BillPlan(period, between(rng, "85", "1200"), "门诊费用"))
    return bills


def pension_bills(rng: random.Random, periods: list[Period], anchor, account) -> list[BillPlan]:
    """Flexible-employment pension: 20% of a chosen contribution base, re-set every July."""
    base = Decimal(rng.choice((4200, 5600, 7000)))
    bills = []
    for period in periods:
        year_base = base if period.month < 7 else quantize_money(base * Decimal("1.04"))
        bills.append(BillPlan(period, quantize_money(year_base * Decimal("0.20")), "灵活就业人员养老保险"))
    return bills


def medical_insurance_bills(rng: random.Random, periods: list[Period], anchor, account) -> list[BillPlan]:
    """Resident medical insurance: one yearly contribution, collected in the autumn for the next year."""
    october = next(p for p in periods if p.month == 10)
    return [BillPlan(october, Decimal("400.00"), f"{int(october.code[:4]) + 1}年度城乡居民基本医疗保险")]


def non_tax_bills(rng: random.Random, periods: list[Period], anchor, account) -> list[BillPlan]:
    item, amount = rng.choice(NON_TAX_ITEMS)
    return [BillPlan(rng.choice(periods), Decimal(amount), item)]


def fine_bills(rng: random.Random, periods: list[Period], anchor, account) -> list[BillPlan]:
    offence, amount = rng.choice(TRAFFIC_OFFENCES)
    plate = f"滨{rng.choice('ABC')}·{rng.choice(PLATE_LETTERS)}{rng.randint(1000, 9999)}"
    return [BillPlan(rng.choice(periods), Decimal(amount), f"{offence} {plate}")]


# --- late fees ------------------------------------------------------------------------------------


def utility_late_fee(rng: random.Random, amount: Decimal, days: int) -> Decimal:
    """Utilities charge 0.1% a day on overdue bills, but many waive it: about half the accounts."""
    if days < 30 or rng.random() < 0.5:
        return ZERO
    return min(quantize_money(amount * Decimal("0.001") * days), quantize_money(amount * Decimal("0.3")))


def fine_late_fee(rng: random.Random, amount: Decimal, days: int) -> Decimal:
    """An unpaid fine grows by 3% a day after its due date, up to the fine itself (行政处罚法 第七十二条)."""
    if days <= 0:
        return ZERO
    return min(quantize_money(amount * Decimal("0.03") * days), amount)


# --- the billers ----------------------------------------------------------------------------------

ID_PATTERN = r"^\d{17}[\dX]$"
ID_HINT = "请输入缴费人18位居民身份证号码，末位可能为X"
ID_HINT_EN = "The payer's 18-character resident ID number; the last character may be X"

# The account hints as English pages show them (Biller.account_hint_en).
ACCOUNT_HINTS_EN = {
    "BJ-WATER": "10 digits, at the top right of the water bill",
    "BJ-POWER": "10 digits, on the electricity notice or in the State Grid app",
    "BJ-GAS": "8 digits starting with 8, on the back of the gas payment card",
    "BJ-HEAT": "RL followed by 8 digits, on the heating payment notice",
    "BJ-PROPERTY": "8 digits: estate, building, floor and room, 2 digits each, such as 0103-1502",
    "BJU-TUITION": "Your 10-digit student number, such as 2023010012",
    "BJ-HOSPITAL1": "9 digits starting with 6, on the front of the patient card",
    "BJ-PENSION": ID_HINT_EN,
    "BJ-MEDINS": ID_HINT_EN,
    "JN-NONTAX": "The 20-digit payment code on the non-tax payment notice",
    "BJ-TRAFFIC": "The 16-digit number of the traffic penalty decision",
    "BJ-TELECOM": "Your 11-digit mobile number",
    "BJ-TRANSIT": "The 12 digits on the back of the card",
    "BJ-CHARITY": "No account number is needed for a donation: enter the amount",
    "BJ-GRID-LIVE": (
        "8 digits; bills come live from the grid's own system. Demo: ending 9001 times out, 9002 signs "
        "badly, 9003 answers garbage, 9004 is down, 9006 changes the amount"
    ),
    "BJ-HOSPITAL-LIVE": (
        "8 digits starting with 7; the hospital's system accepts each payment first. Demo: ending 9005 "
        "declines, 9006 changes the amount"
    ),
    "BJ-GAS-CARD": (
        "8 digits starting with 62, on the front of the IC gas card. Demo: ending 9 fails to write "
        "(refunded), ending 8 is never confirmed (refunded after the timeout)"
    ),
    "BJ-NONTAX": (
        "8 digits starting with 8, or the payment notice number (缴款书号); a fiscal e-receipt is issued "
        "after payment"
    ),
}

BILLERS: tuple[BillerSpec, ...] = (
    BillerSpec(
        "BJ-WATER",
        "滨江市自来水公司",
        "Binjiang Water Supply",
        "滨江市自来水有限公司",
        "water",
        "户号为10位数字，见水费账单右上角",
        amount_rule=AmountRule.EXACT_UP,
        account_pattern=r"^3\d{9}$",
        check_digit=CheckDigit.LUHN,
        accounts_per_2000=420,
        new_account=water_account,
        bills=water_bills,
        late_fee=utility_late_fee,
    ),
    BillerSpec(
        "BJ-POWER",
        "国网滨江供电公司",
        "State Grid Binjiang Power Supply",
        "国网滨江市供电公司",
        "electricity",
        "电费户号为10位数字，见电费通知单或“网上国网”App",
        amount_rule=AmountRule.EXACT_UP,
        account_pattern=r"^51\d{8}$",
        accounts_per_2000=420,
        new_account=power_account,
        bills=power_bills,
        late_fee=utility_late_fee,
    ),
    BillerSpec(
        "BJ-GAS",
        "滨江燃气公司",
        "Binjiang Gas",
        "滨江市燃气有限公司",
        "gas",
        "燃气用户号为8位数字，以8开头，见燃气缴费卡背面",
        amount_rule=AmountRule.EXACT_UP,
        account_pattern=r"^8\d{7}$",
        accounts_per_2000=260,
        new_account=gas_account,
        bills=gas_bills,
        late_fee=utility_late_fee,
    ),
    BillerSpec(
        "BJ-HEAT",
        "滨江热力公司",
        "Binjiang District Heating",
        "滨江热力集团有限公司",
        "heating",
        "供热户号为RL加8位数字，见供热缴费通知单",
        account_pattern=r"^RL\d{8}$",
        accounts_per_2000=160,
        new_account=heating_account,
        bills=heating_bills,
    ),
    BillerSpec(
        "BJ-PROPERTY",
        "滨江绿洲物业",
        "Binjiang Oasis Property Services",
        "滨江绿洲物业服务有限公司",
        "property-fees",
        "房屋编号为8位数字：小区2位+楼栋2位+楼层2位+房号2位，如 0103-1502",
        amount_rule=AmountRule.EXACT_DOWN,
        account_pattern=r"^\d{8}$",
        accounts_per_2000=220,
        new_account=property_account,
        bills=property_bills,
    ),
    BillerSpec(
        "BJU-TUITION",
        "滨江大学",
        "Binjiang University",
        "滨江大学",
        "tuition",
        "请输入10位学号，如 2023010012",
        account_pattern=r"^20\d{8}$",
        accepts_cash=False,
        accounts_per_2000=120,
        new_account=student_account,
        bills=tuition_bills,
    ),
    BillerSpec(
        "BJ-HOSPITAL1",
        "滨江市第一人民医院",
        "Binjiang First People's Hospital",
        "滨江市第一人民医院",
        "hospital",
        "就诊卡号为9位数字，以6开头，见就诊卡正面",
        account_pattern=r"^6\d{8}$",
        accounts_per_2000=100,
        new_account=patient_account,
        bills=hospital_bills,
    ),
    BillerSpec(
        "BJ-PENSION",
        "滨江市社会保险事业管理中心",
        "Binjiang Social Insurance Centre",
        "滨江市社会保险事业管理中心",
        "pension",
        ID_HINT,
        account_pattern=ID_PATTERN,
        check_digit=CheckDigit.MOD11_2,
        accounts_per_2000=120,
        new_account=worker_account,
        bills=pension_bills,
    ),
    BillerSpec(
        "BJ-MEDINS",
        "滨江市医疗保障局",
        "Binjiang Healthcare Security Bureau",
        "滨江市医疗保障局",
        "medical-insurance",
        ID_HINT,
        account_pattern=ID_PATTERN,
        check_digit=CheckDigit.MOD11_2,
        accounts_per_2000=80,
        new_account=resident_account,
        bills=medical_insurance_bills,
    ),
    BillerSpec(
        "JN-NONTAX",
        "江南区非税收入管理局",
        "Jiangnan District Non-tax Revenue Bureau",
        "滨江市江南区非税收入管理局",
        "government-fees",
        "缴款码为20位数字，见非税收入缴款通知书",
        account_pattern=r"^\d{20}$",
        accounts_per_2000=50,
        new_account=notice_account,
        bills=non_tax_bills,
    ),
    BillerSpec(
        "BJ-TRAFFIC",
        "滨江市公安局交通警察支队",
        "Binjiang Traffic Police",
        "滨江市公安局交通警察支队",
        "traffic-fines",
        "处罚决定书编号为16位数字，见《公安交通管理简易程序处罚决定书》",
        account_pattern=r"^\d{16}$",
        accounts_per_2000=50,
        new_account=fine_account,
        bills=fine_bills,
        late_fee=fine_late_fee,
    ),
    BillerSpec(
        "BJ-TELECOM",
        "中国电信滨江分公司",
        "China Telecom Binjiang",
        "中国电信股份有限公司滨江分公司",
        "telecom",
        "请输入11位手机号码",
        payment_mode=PaymentMode.PREPAID,
        account_pattern=r"^1[3-9]\d{9}$",
        min_amount=Decimal("10.00"),
        max_amount=Decimal("2000.00"),
        accounts_per_2000=150,
        new_account=mobile_account,
        topups=(30, 50, 50, 100, 100, 200, 300),
    ),
    BillerSpec(
        "BJ-TRANSIT",
        "滨江通公交卡",
        "Binjiang Transit Card",
        "滨江市公共交通一卡通有限公司",
        "transport-cards",
        "卡号为卡片背面的12位数字",
        payment_mode=PaymentMode.PREPAID,
        account_pattern=r"^3107\d{8}$",
        check_digit=CheckDigit.LUHN,
        min_amount=Decimal("10.00"),
        max_amount=Decimal("1000.00"),
        accounts_per_2000=100,
        new_account=transport_card_account,
        topups=(20, 50, 50, 100, 100, 200),
    ),
    BillerSpec(
        "BJ-CHARITY",
        "滨江市慈善总会",
        "Binjiang Charity Federation",
        "滨江市慈善总会",
        "donations",
        "捐款无需户号，直接填写金额即可",
        payment_mode=PaymentMode.DONATION,
        min_amount=Decimal("1.00"),
        max_amount=Decimal("50000.00"),
        accepts_cash=False,
    ),
    # Live presentment (issue 17; demo/presentment.py links them to the sandbox biller): a power grid whose
    # bills are fetched from its own system at lookup, a hospital that validates each payment before it is
    # posted. No planned accounts: the grid's come from its system, the hospital's are seeded there.
    BillerSpec(
        "BJ-GRID-LIVE",
        "滨江新区供电公司",
        "Binjiang New District Power (live bills)",
        "国网滨江市新区供电公司",
        "electricity",
        "户号为8位数字，账单实时从供电公司系统获取。演示：尾号9001超时、9002签名错误、9003答复格式错误、"
        "9004系统停机、9006金额变动",
        account_pattern=r"^\d{8}$",
    ),
    BillerSpec(
        "BJ-HOSPITAL-LIVE",
        "滨江市第二人民医院",
        "Binjiang Second People's Hospital (validated)",
        "滨江市第二人民医院",
        "hospital",
        "就诊卡号为8位数字，以7开头；缴费前由医院系统确认。演示：尾号9005拒绝、9006金额变动",
        account_pattern=r"^7\d{7}$",
    ),
    # Top-ups written to an IC card (issue 17, item 8; demo/card_topups.py): the payer chooses the amount,
    # the money is held until the gas company's card system confirms the write. No planned accounts: a
    # planned payment would wait for a write nobody makes; the cards are seeded by demo/card_topups.py.
    BillerSpec(
        "BJ-GAS-CARD",
        "滨江燃气IC卡充值",
        "Binjiang Gas IC Card Top-up",
        "滨江市燃气有限公司",
        "gas",
        "IC卡号为8位数字，以62开头，见燃气卡正面。演示：尾号9写卡失败（退款），尾号8无人确认（超时退款）",
        payment_mode=PaymentMode.PREPAID,
        account_pattern=r"^62\d{6}$",
        min_amount=Decimal("20.00"),
        max_amount=Decimal("3000.00"),
    ),
    # Fiscal e-receipts (issue 17, item 5; demo/fiscal.py links it to the sandbox fiscal issuer): a non-tax
    # office whose bills are payment notices (缴款书), each paid one issued an official e-receipt.
    BillerSpec(
        "BJ-NONTAX",
        "滨江市自然资源和规划局",
        "Binjiang Natural Resources and Planning Bureau",
        "滨江市自然资源和规划局",
        "government-fees",
        "缴款人编号为8位数字，以8开头；也可输入缴款书号查找。缴费后开具财政电子票据",
        account_pattern=r"^8\d{7}$",
    ),
)
BILLERS_BY_CODE = {spec.code: spec for spec in BILLERS}
DONATIONS_PER_2000 = 80
DONATION_AMOUNTS = ("10", "20", "50", "50", "100", "100", "200", "500", "1000", "5000")


# --- outlets --------------------------------------------------------------------------------------

# (code, name, kind)
OPERATORS = (
    ("CNPOST-BJ", "中国邮政滨江分公司", OperatorKind.POST_OFFICE),
    ("LINLI", "邻里家便利店", OperatorKind.CONVENIENCE_STORE),
    ("JN-COMMUNITY", "江南街道社区服务中心", OperatorKind.COMMUNITY_CENTRE),
)
# (code, operator, name, district, address, latitude, longitude, opening hours)
BRANCHES = (
    (
        "POST-JN01",
        "CNPOST-BJ",
        "中国邮政滨江江南路营业所",
        "江南区",
        "滨江市江南区江南大道128号",
        "30.208432",
        "120.211875",
        "周一至周日 08:30-17:30",
    ),
    (
        "POST-JB02",
        "CNPOST-BJ",
        "中国邮政滨江江北营业所",
        "江北区",
        "滨江市江北区人民路56号",
        "30.254117",
        "120.168203",
        "周一至周六 08:30-17:00",
    ),
    (
        "POST-GX03",
        "CNPOST-BJ",
        "中国邮政滨江高新区营业所",
        "高新区",
        "滨江市高新区科技大道301号",
        "30.190566",
        "120.142890",
        "周一至周五 09:00-17:00",
    ),
    (
        "POST-BH04",
        "CNPOST-BJ",
        "中国邮政滨江滨湖营业所",
        "滨湖区",
        "滨江市滨湖区湖滨路18号",
        "30.232980",
        "120.239741",
        "周一至周日 08:00-18:00",
    ),
    (
        "LINLI-001",
        "LINLI",
        "邻里家便利店（滨江花园店）",
        "江南区",
        "滨江市江南区滨江路88号滨江花园南门",
        "30.211750",
        "120.215306",
        "24小时营业",
    ),
    (
        "LINLI-002",
        "LINLI",
        "邻里家便利店（学府路店）",
        "西山区",
        "滨江市西山区学府路9号",
        "30.271402",
        "120.120677",
        "07:00-23:00",
    ),
    (
        "LINLI-003",
        "LINLI",
        "邻里家便利店（望江新村店）",
        "临江区",
        "滨江市临江区望江路210号",
        "30.244615",
        "120.262530",
        "07:00-24:00",
    ),
    (
        "COMM-JN01",
        "JN-COMMUNITY",
        "江南街道社区服务中心缴费窗口",
        "江南区",
        "滨江市江南区文化路45号",
        "30.205391",
        "120.204118",
        "周一至周五 09:00-12:00，13:30-17:00",
    ),
)
CLERK_BRANCH = "POST-JN01"


# --- demo users -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: str  # a group name from billing.roles, or "citizen"
    last_name: str
    first_name: str
    where: str = ""


DEMO_USERS = (
    DemoUser("admin", roles.PLATFORM_ADMIN, "周", "明远", "superuser"),
    # The second pair of eyes: a biller submitted by one platform admin is approved by another (four eyes).
    DemoUser("admin2", roles.PLATFORM_ADMIN, "郑", "秋红", "superuser, approves what admin submits"),
    DemoUser("biller_operator", roles.BILLER_OPERATOR, "陈", "静", "滨江市自来水公司 (BJ-WATER)"),
    DemoUser(
        "branch_supervisor", roles.BRANCH_SUPERVISOR, "刘", "海涛", "中国邮政滨江江南路营业所 (POST-JN01)"
    ),
    DemoUser("branch_clerk", roles.BRANCH_CLERK, "李", "婷", "中国邮政滨江江南路营业所 (POST-JN01)"),
    DemoUser("reconciliation_officer", roles.RECONCILIATION_OFFICER, "孙", "伟"),
    DemoUser("auditor", roles.AUDITOR, "吴", "雪梅"),
    DemoUser(CITIZEN["username"], "citizen", "王", "小明", "payer 王小明, pays online"),
)
