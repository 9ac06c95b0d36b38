"""Batch proxy payment files from outside: too large, a line or field past the caps — refused on the
page with the reason in the officer's language, and no batch stored."""

import pytest

from payers.models import ProxyBatch
from tests.payers.test_proxy import officer, pension, residents, upload  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


def refused(response) -> str:
    assert response.status_code == 200 and not ProxyBatch.objects.exists()
    return response.context["error"]


def test_a_file_over_the_batch_limit_is_refused_before_it_is_read(client, officer, pension, settings):  # noqa: F811
    settings.UNTRUSTED_FILE_MAX_BYTES = {**settings.UNTRUSTED_FILE_MAX_BYTES, "proxy_batch": 1000}
    residents(pension, 1)
    lines = ["户号,金额,姓名"] + ["60000000,300.00,居民0"] * 100
    assert "最多接受 1000 字节" in refused(upload(client, pension, "\n".join(lines)))


def test_a_line_past_the_cap_is_refused_with_its_number(client, officer, pension):  # noqa: F811
    residents(pension, 1)
    text = "户号,金额,姓名\n60000000,300.00,居民0\n60000000,300.00," + "名" * 70_000
    assert "第 3 行超过 65536 个字符" in refused(upload(client, pension, text))


def test_a_field_past_the_cap_is_refused_even_across_lines(client, officer, pension):  # noqa: F811
    residents(pension, 1)
    field = ("名" * 100 + "\n") * 200
    text = f'户号,金额,姓名\n60000000,300.00,"{field}"\n'
    assert "有字段超过 16384 个字符" in refused(upload(client, pension, text))
