"""Shared collections in the back office (issue 17, item 4): the platform admin declares a biller's
co-beneficiaries inline on its page (checked together, audited, a bad set refused on the page with its
reason), and the biller's operator sees who each payment is owed to."""

import pytest
from django import forms
from django.urls import reverse

from billing import roles
from billing.models import AuditEvent, BillerStaff, CollectionShare
from billing.services import post_payment
from tests.billing.test_collection_shares import late_fine, shared_police
from tests.factories import BillerFactory
from tests.support import log_in, make_staff

pytestmark = pytest.mark.django_db


def page_data(page, **changes):
    """What the biller's page posts back unchanged: its fields and every inline's rows."""
    form = page.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(field, forms.BooleanField):
            if value:
                data[name] = "on"
        elif value is not None:
            data[name] = value
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        data.update(
            {
                f"{formset.prefix}-TOTAL_FORMS": str(formset.initial_form_count()),
                f"{formset.prefix}-INITIAL_FORMS": str(formset.initial_form_count()),
            }
        )
        for index, row in enumerate(formset.initial_forms):
            for name, field in row.fields.items():
                value = row[name].value()
                if isinstance(field, forms.BooleanField):
                    if value:
                        data[f"{formset.prefix}-{index}-{name}"] = "on"
                elif value is not None:
                    data[f"{formset.prefix}-{index}-{name}"] = value
    data.update(changes)
    return data


def new_part(index, code, name, rule, value, account_no):
    prefix = f"collection_shares-{index}"
    return {
        f"{prefix}-position": str(index + 1),
        f"{prefix}-code": code,
        f"{prefix}-name": name,
        f"{prefix}-rule": rule,
        f"{prefix}-fixed_amount": value if rule == "fixed" else "",
        f"{prefix}-percentage": value if rule == "percent" else "",
        f"{prefix}-settlement_bank_name": "滨江银行",
        f"{prefix}-settlement_account_name": name,
        f"{prefix}-settlement_account_no": account_no,
        f"{prefix}-active": "on",
    }


def test_the_platform_admin_declares_the_co_beneficiaries_on_the_billers_page(client, admin_user):
    biller = BillerFactory(code="POLICE02")
    log_in(client, admin_user)
    url = reverse("admin:billing_biller_change", args=[biller.pk])
    data = page_data(client.get(url))
    data.update(new_part(0, "agency", "代收机构", "fixed", "10.00", "6222000000000101"))
    data.update(new_part(1, "PROV", "省财政厅", "percent", "40.00", "6222000000000202"))
    data["collection_shares-TOTAL_FORMS"] = "2"
    response = client.post(url, data)
    assert response.status_code == 302, response.context["inline_admin_formsets"][1].formset.errors
    assert sorted(CollectionShare.objects.values_list("code", "rule")) == [
        ("AGENCY", "fixed"),
        ("PROV", "percent"),
    ]
    event = AuditEvent.objects.get(action="biller.collection_shares_set")
    assert event.actor == admin_user and "PROV 40.00%" in event.data["to"]


def test_parts_over_100_percent_are_refused_on_the_page_and_nothing_is_saved(client, admin_user):
    biller = BillerFactory(code="POLICE02", name="交警支队")
    log_in(client, admin_user)
    url = reverse("admin:billing_biller_change", args=[biller.pk])
    data = page_data(client.get(url))
    data.update(new_part(0, "PROV", "省财政厅", "percent", "60.00", "6222000000000202"))
    data.update(new_part(1, "CITY2", "区财政局", "percent", "50.00", "6222000000000303"))
    data["collection_shares-TOTAL_FORMS"] = "2"
    response = client.post(url, data, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 200
    assert "交警支队的分账方合计占 110.00%：合计至多 100%。" in response.content.decode()
    assert not CollectionShare.objects.exists()


def test_switching_a_part_off_on_the_page_keeps_it_and_is_audited(client, admin_user):
    police = shared_police()
    log_in(client, admin_user)
    url = reverse("admin:billing_biller_change", args=[police.pk])
    data = page_data(client.get(url))
    index = next(i for i in range(2) if data[f"collection_shares-{i}-code"] == "PROV")
    del data[f"collection_shares-{index}-active"]
    assert client.post(url, data).status_code == 302
    assert CollectionShare.objects.get(code="PROV").active is False
    assert AuditEvent.objects.filter(action="biller.collection_shares_set", actor=admin_user).exists()


def test_the_billers_operator_sees_who_a_payment_is_owed_to_and_cannot_change_the_parts(
    client, django_user_model
):
    police = shared_police()
    late_fine(police)
    payment = post_payment(
        channel="partner",
        idempotency_key="k1",
        biller_code="POLICE01",
        account_no="44001234",
        amount="2003.00",
    ).payment
    operator = make_staff(django_user_model, "bob", roles.BILLER_OPERATOR)
    BillerStaff.objects.create(user=operator, biller=police)
    log_in(client, operator)
    page = client.get(
        reverse("admin:billing_payment_change", args=[payment.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans"
    ).content.decode()
    assert "应付给" in page
    for words in ("交警支队: ¥1194.00", "代收机构: ¥10.00", "省财政厅: ¥796.00", "交警支队 · 滞纳金: ¥3.00"):
        assert words in page
    biller_url = reverse("admin:billing_biller_change", args=[police.pk])
    assert "6222000000000202" in client.get(biller_url).content.decode()
    assert client.post(biller_url, {"name": "x"}).status_code == 403
