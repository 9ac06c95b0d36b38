"""Issue 14 on the counter: money printed to the fen, every outlet of a district listed, the till close
worded for takings, and a staff header on counter pages."""

import datetime
import re
from decimal import Decimal
from urllib.parse import parse_qsl

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.choices import Channel
from branches import services
from branches.choices import BranchStatus
from tests.factories import BillFactory, BranchFactory, CustomerAccountFactory, FeeScheduleFactory
from tests.support import log_in, take_cash

pytestmark = pytest.mark.django_db


def pay_cash(clerk, till, biller, amount, key):
    """Cash for a new account's one bill of `amount`, tendered exactly."""
    bill = BillFactory(
        account=CustomerAccountFactory(biller=biller),
        amount_due=Decimal(amount),
        due_date=timezone.localdate(),
    )
    take_cash(clerk, till, bill, key, tendered=amount)


def test_the_counter_report_prints_takings_and_commission_to_the_fen(client, dave, sam, branch_x, water):
    FeeScheduleFactory(
        biller=water,
        channel=Channel.COUNTER,
        fixed_fee=Decimal("0.00"),
        percentage=Decimal("0.0033"),
        min_fee=Decimal("0"),
        max_fee=None,
        valid_from=datetime.date(2026, 1, 1),
    )
    till = services.open_till(clerk=dave, branch=branch_x, opening_float="0")
    for n, amount in enumerate(["207101.53", "207101.54"]):
        pay_cash(dave, till, water, amount, f"m{n}")
    log_in(client, sam)
    for by in ("branch", "biller", "clerk"):
        page = client.get(reverse("counter:reports"), {"by": by}).text
        assert "¥414,203.07" in page
        assert "414203.07" not in page  # neither unseparated nor with trailing places
    page = client.get(reverse("counter:reports")).text
    # 0.33% of 207101.53 and of 207101.54, each rounded to the fen: 683.44 + 683.44
    assert "¥1,366.88" in page


def test_the_finder_by_district_lists_every_outlet_page_by_page_with_the_suspended_ones_and_their_dates(
    client, admin_user, water
):
    outlets = [BranchFactory(code=f"XH{n:03d}", name=f"西湖网点{n}", district="西湖区") for n in range(41)]
    until = timezone.localdate() + datetime.timedelta(days=10)
    for branch in (outlets[3], outlets[27]):
        services.change_branch_status(
            branch=branch, to_status=BranchStatus.SUSPENDED, actor=admin_user, reason="内部装修", until=until
        )
    listed, pages, params = [], [], {"biller": "WATER", "district": "西湖区"}
    while params is not None:
        response = client.get(reverse("outlets:finder"), params)
        assert response.status_code == 200
        listed += [outlet.branch.code for outlet in response.context["outlets"]]
        pages.append(response.text)
        more = re.search(r'<a [^>]*rel="next"[^>]*href="\?([^"]+)"', response.text)
        params = dict(parse_qsl(more.group(1).replace("&amp;", "&"))) if more else None
    assert len(pages) > 1 and "下一页" in pages[0]
    assert sorted(listed) == sorted(branch.code for branch in outlets)
    suspended_page = next(page for page in pages if "西湖网点27<" in page)
    assert "暂停" in suspended_page and until.isoformat() in suspended_page
    nearest = client.get(reverse("outlets:finder"), {"biller": "WATER", "district": "西湖区", "page": "99"})
    assert nearest.status_code == 200  # a page past the end shows the last one, not an error
    assert nearest.context["outlets"]
    garbled = client.get(reverse("outlets:finder"), {"district": "西湖区", "page": "1 OR 1=1"})
    assert garbled.status_code == 200 and garbled.context["page"].number == 1


def test_the_till_close_names_the_takings_not_a_time_in_chinese(client, dave, branch_x, water):
    till = services.open_till(clerk=dave, branch=branch_x, opening_float="500.00")
    pay_cash(dave, till, water, "1234.50", "c1")
    log_in(client, dave)
    close = client.get(reverse("counter:close")).text
    assert "收款时间" not in close
    assert "本班收款 ¥1,234.50" in close and "应有现金" in close
    home = client.get(reverse("counter:home")).text
    assert "本班收款 ¥1,234.50" in home


def test_a_clerks_counter_pages_carry_a_staff_header_not_the_citizen_one(client, dave, sam, branch_x, water):
    log_in(client, dave)
    before = client.get(reverse("counter:home")).text  # no till yet: the open-till form
    header = re.search(r'<header class="site-header staff-header">(.*?)</header>', before, re.S).group(1)
    assert "尚未开班" in header and "X支局" in header
    services.open_till(clerk=dave, branch=branch_x, opening_float="0")
    for name in ("counter:home", "counter:day_report", "counter:close"):
        page = client.get(reverse(name)).text
        for citizen in ("我的户号", "工作人员登录", "大字模式", "代缴"):
            assert citizen not in page, (name, citizen)
        header = re.search(r'<header class="site-header staff-header">(.*?)</header>', page, re.S).group(1)
        assert "X支局" in header and "Dave" in header and "已开班" in header
        assert f'action="{reverse("admin:logout")}"' in header and "退出登录" in header
    log_in(client, sam)
    report = client.get(reverse("counter:reports")).text
    assert "我的户号" not in report and "工作人员登录" not in report and "退出登录" in report


def test_the_counter_header_names_a_chinese_clerk_family_name_first(client, dave, branch_x):
    dave.first_name, dave.last_name = "婷", "李"
    dave.save()
    services.open_till(clerk=dave, branch=branch_x, opening_float="0")
    log_in(client, dave)
    page = client.get(reverse("counter:home")).text
    header = re.search(r'<header class="site-header staff-header">(.*?)</header>', page, re.S).group(1)
    assert "李婷" in header and "婷 李" not in page
