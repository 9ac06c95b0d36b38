"""Reference data every installation needs: the biller category tree, the staff role groups and the
platform's own ledger accounts. Installed by migration 0003, and again by the tests after a
transactional test has truncated the tables. Takes an app registry so migrations can pass theirs."""

from billing.roles import STAFF_ROLES

# (code, 中文, English, parent code)
CATEGORIES = [
    ("utilities", "生活缴费", "Utilities", None),
    ("water", "水费", "Water", "utilities"),
    ("electricity", "电费", "Electricity", "utilities"),
    ("gas", "燃气费", "Gas", "utilities"),
    ("heating", "供暖费", "Heating", "utilities"),
    ("telecom-tv", "通信与电视", "Telecom and TV", None),
    ("telecom", "话费宽带", "Phone and broadband", "telecom-tv"),
    ("cable-tv", "有线电视", "Cable TV", "telecom-tv"),
    ("education", "教育缴费", "Education", None),
    ("tuition", "学费", "Tuition", "education"),
    ("medical", "医疗缴费", "Medical", None),
    ("hospital", "医院", "Hospitals", "medical"),
    ("social-insurance", "社会保险", "Social insurance", None),
    ("pension", "养老保险", "Pension insurance", "social-insurance"),
    ("medical-insurance", "医疗保险", "Medical insurance", "social-insurance"),
    ("government-fees", "非税缴费", "Non-tax government fees", None),
    ("traffic-fines", "交通罚款", "Traffic fines", None),
    ("housing", "住房缴费", "Housing", None),
    ("property-fees", "物业费", "Property management fees", "housing"),
    ("maintenance-funds", "维修基金", "Maintenance funds", "housing"),
    ("transport-cards", "交通卡充值", "Transport cards", None),
    ("donations", "公益捐款", "Donations", None),
    # Issue 16: the sub-categories a province's billers fall into (9+ categories, 50+ sub-categories).
    ("sewage", "污水处理费", "Sewage charges", "utilities"),
    ("waste-collection", "垃圾处理费", "Waste collection", "utilities"),
    ("bottled-gas", "液化气", "Bottled gas", "utilities"),
    ("hot-water", "热水费", "Hot water", "utilities"),
    ("mobile", "手机话费", "Mobile phone", "telecom-tv"),
    ("broadband", "宽带", "Broadband", "telecom-tv"),
    ("landline", "固定电话", "Landline", "telecom-tv"),
    ("iptv", "网络电视", "IPTV", "telecom-tv"),
    ("kindergarten", "幼儿园保教费", "Kindergarten fees", "education"),
    ("school-meals", "学校餐费", "School meals", "education"),
    ("exam-fees", "考试报名费", "Exam fees", "education"),
    ("university", "高校学费", "University fees", "education"),
    ("vocational-training", "职业培训", "Vocational training", "education"),
    ("school-bus", "校车费", "School bus", "education"),
    ("textbooks", "教材费", "Textbooks", "education"),
    ("outpatient", "门诊缴费", "Outpatient care", "medical"),
    ("inpatient", "住院预交金", "Inpatient deposits", "medical"),
    ("health-checks", "体检", "Health check-ups", "medical"),
    ("pharmacy", "药房", "Pharmacy", "medical"),
    ("vaccination", "疫苗接种", "Vaccinations", "medical"),
    ("unemployment-insurance", "失业保险", "Unemployment insurance", "social-insurance"),
    ("work-injury-insurance", "工伤保险", "Work injury insurance", "social-insurance"),
    ("maternity-insurance", "生育保险", "Maternity insurance", "social-insurance"),
    ("residents-pension", "城乡居民养老保险", "Residents' pension", "social-insurance"),
    ("residents-medical", "城乡居民医保", "Residents' medical insurance", "social-insurance"),
    ("housing-fund", "住房公积金", "Housing provident fund", "social-insurance"),
    ("administrative-fees", "行政事业性收费", "Administrative fees", "government-fees"),
    ("certificate-fees", "证照工本费", "Certificate and ID fees", "government-fees"),
    ("court-fees", "诉讼费", "Court fees", "government-fees"),
    ("vehicle-fees", "车船使用费", "Vehicle fees", "government-fees"),
    ("property-registration", "不动产登记费", "Property registration", "government-fees"),
    ("traffic-violations", "交通违法罚款", "Traffic violation fines", "traffic-fines"),
    ("parking-fines", "停车罚款", "Parking fines", "traffic-fines"),
    ("public-housing-rent", "公租房租金", "Public housing rent", "housing"),
    ("parking-fees", "停车费", "Parking fees", "housing"),
    ("metro-cards", "地铁卡", "Metro cards", "transport-cards"),
    ("bus-cards", "公交卡", "Bus cards", "transport-cards"),
    ("etc-tolls", "ETC通行费", "ETC road tolls", "transport-cards"),
    ("charity", "慈善捐款", "Charity", "donations"),
    ("disaster-relief", "赈灾捐款", "Disaster relief", "donations"),
]

# (code, name, kind) — biller payable and branch cash accounts are created with their biller or branch.
PLATFORM_LEDGER_ACCOUNTS = [
    ("CLEARING:ONLINE", "在线渠道清算", "channel_clearing"),
    ("CLEARING:PARTNER", "合作渠道清算", "channel_clearing"),
    ("FEES", "手续费收入", "fee_income"),
    ("SETTLEMENT", "结算银行账户", "settlement"),
]


def install(apps) -> None:
    Category = apps.get_model("billing", "BillerCategory")
    Group = apps.get_model("auth", "Group")
    LedgerAccount = apps.get_model("billing", "LedgerAccount")
    if (
        Category.objects.count() >= len(CATEGORIES)
        and LedgerAccount.objects.filter(code__in=[a[0] for a in PLATFORM_LEDGER_ACCOUNTS]).count()
        == len(PLATFORM_LEDGER_ACCOUNTS)
        and Group.objects.filter(name__in=STAFF_ROLES).count() == len(STAFF_ROLES)
    ):
        return
    by_code = {}
    for order, (code, name, name_en, parent) in enumerate(CATEGORIES):
        by_code[code], _ = Category.objects.update_or_create(
            code=code,
            defaults={"name": name, "name_en": name_en, "parent": by_code.get(parent), "sort_order": order},
        )
    for role in STAFF_ROLES:
        Group.objects.get_or_create(name=role)
    for code, name, kind in PLATFORM_LEDGER_ACCOUNTS:
        LedgerAccount.objects.get_or_create(code=code, defaults={"name": name, "kind": kind})


def uninstall(apps) -> None:
    Category = apps.get_model("billing", "BillerCategory")
    codes = [c[0] for c in CATEGORIES]
    Category.objects.filter(code__in=codes, parent__isnull=False).delete()
    Category.objects.filter(code__in=codes).delete()
    apps.get_model("auth", "Group").objects.filter(name__in=STAFF_ROLES).delete()
    apps.get_model("billing", "LedgerAccount").objects.filter(
        code__in=[a[0] for a in PLATFORM_LEDGER_ACCOUNTS]
    ).delete()
