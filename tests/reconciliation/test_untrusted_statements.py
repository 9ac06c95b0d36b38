"""Channel statements and settlement confirmations from outside: hostile files are refused with their
code and nothing stored; a statement is recognised by its content however it was re-sent, and a second,
different statement for a channel and day never reopens what the first matched."""

import codecs
import datetime
import gzip
import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from billing.models import AuditEvent
from reconciliation import services, tasks
from reconciliation.choices import MatchClass, SettlementStatus
from reconciliation.exceptions import StatementRefused
from reconciliation.models import (
    Discrepancy,
    MatchResult,
    ReconciliationRun,
    SettlementBatch,
    StatementFile,
    StatementLine,
)
from tests.billing.test_untrusted_files import (
    BILLION_LAUGHS,
    EXTERNAL_ENTITY,
    MIB,
    gzip_bomb,
    peak_while,
    zip_of,
)
from tests.reconciliation.conftest import CHANNEL, billpay_csv, fixture_bytes
from tests.reconciliation.test_settlement import bank_confirmation, reconciled  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db
ALIPAY_DAY = datetime.date(2026, 11, 26)


def nothing_stored():
    return not (
        StatementFile.objects.exists()
        or StatementLine.objects.exists()
        or ReconciliationRun.objects.exists()
        or AuditEvent.objects.filter(action="statement.imported").exists()
    )


def import_(data, day, channel=CHANNEL, name="s.csv"):
    return services.import_statement(channel_code=channel, business_date=day, data=data, file_name=name)


# Hostile files ---------------------------------------------------------------------------------------


def test_a_gzip_statement_bomb_is_refused_within_bounded_memory_and_nothing_is_stored(today):
    bomb = gzip_bomb(200)  # ~200 KiB that would inflate to 200 MiB (the 527 MB RSS)
    raised, peak = peak_while(lambda: import_(bomb, today, name="statement.csv.gz"))
    assert isinstance(raised, StatementRefused) and raised.code == "archive_ratio_too_high"
    assert peak < 32 * MIB
    assert nothing_stored()


@pytest.mark.parametrize(
    ("archive", "code"),
    [
        (lambda: zip_of({f"{n}.csv": b"x\n" for n in range(65)}), "archive_too_many_members"),
        (lambda: zip_of({"detail.csv": 64}), "archive_ratio_too_high"),
        (lambda: fixture_bytes("alipay/handmade_business_detail_2026-11-26.zip")[:-40], "archive_corrupt"),
        (
            lambda: gzip.compress(fixture_bytes("alipay/handmade_business_detail_2026-11-26.csv"))[:-9],
            "archive_corrupt",
        ),
    ],
    ids=["zip-members", "zip-ratio", "zip-truncated", "gzip-truncated"],
)
def test_a_hostile_or_damaged_archive_is_refused_with_its_code_and_nothing_stored(archive, code):
    with pytest.raises(StatementRefused) as caught:
        import_(archive(), ALIPAY_DAY, channel="ONLINE:ALIPAY")
    assert caught.value.code == code
    assert caught.value.message  # a sentence, not a traceback
    assert nothing_stored()


@pytest.mark.parametrize("xml", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion-laughs", "external-entity"])
def test_a_camt_statement_with_entities_is_refused(today, xml):
    with pytest.raises(StatementRefused) as caught:
        import_(xml, today, name="camt053.xml")
    assert caught.value.code == "xml_forbidden"
    assert nothing_stored()


@pytest.mark.parametrize("xml", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion-laughs", "external-entity"])
def test_a_settlement_confirmation_with_entities_is_refused_and_confirms_nothing(
    reconciled,  # noqa: F811
    today,
    xml,
    settle_on,
):
    services.settle_day(day=today, as_of=settle_on)
    with pytest.raises(StatementRefused) as caught:
        services.import_settlement_confirmation(data=xml)
    assert caught.value.code == "xml_forbidden"
    assert SettlementBatch.objects.get().status != SettlementStatus.CONFIRMED


def test_a_statement_with_a_10_mb_field_is_refused(today):
    good = billpay_csv(today, [("PAYMENT", "SBX-1", "1.00", "", None)])
    huge = good.replace(b"SBX-1", b'"' + b"R" * 999 + (b"\n" + b"R" * 999) * 10_000 + b'"')
    with pytest.raises(StatementRefused) as caught:
        import_(huge, today)
    assert caught.value.code == "field_too_long" and caught.value.params["line"] > 3
    one_line = good.replace(b"SBX-1", b"R" * 10 * MIB)
    with pytest.raises(StatementRefused) as caught:
        import_(one_line, today)
    assert caught.value.code == "line_too_long" and caught.value.params["line"] == 3
    assert nothing_stored()


def test_a_statement_over_the_size_limit_is_refused_in_the_admin_with_its_reason(
    today, officer, client, settings
):
    settings.UNTRUSTED_FILE_MAX_BYTES = {**settings.UNTRUSTED_FILE_MAX_BYTES, "statement": 200}
    client.force_login(officer)
    client.cookies["django_language"] = "en"  # the staff member chose English
    data = billpay_csv(today, [("PAYMENT", "SBX-1", "1.00", "", None)])
    response = client.post(
        reverse("admin:reconciliation_statementfile_upload"),
        {
            "channel_code": CHANNEL,
            "business_date": today.isoformat(),
            "file": SimpleUploadedFile("s.csv", data),
        },
    )
    assert response.status_code == 200
    assert "at most 200 bytes are accepted" in str(response.context["form"].errors["file"])
    assert nothing_stored()


def test_a_gzip_bomb_uploaded_in_the_admin_is_refused_on_the_form_in_chinese_by_default(
    today, officer, client
):
    client.force_login(officer)
    response = client.post(
        reverse("admin:reconciliation_statementfile_upload"),
        {
            "channel_code": CHANNEL,
            "business_date": today.isoformat(),
            "file": SimpleUploadedFile("s.csv.gz", gzip_bomb(200)),
        },
    )
    assert response.status_code == 200
    assert "压缩炸弹" in str(response.context["form"].errors["file"])
    assert nothing_stored()


def test_the_nightly_inbox_skips_a_refused_file_and_reconciles_the_others(shop, today, tmp_path, settings):
    payment = shop.pay("100.00")
    good = tmp_path / "ONLINE_SANDBOX"
    bad = tmp_path / "ONLINE_WECHAT"
    good.mkdir(), bad.mkdir()
    (good / f"{today:%Y-%m-%d}.csv").write_bytes(
        billpay_csv(today, [("PAYMENT", payment.channel_ref, "100.00", "", None)])
    )
    (bad / f"{today:%Y-%m-%d}.csv.gz").write_bytes(gzip_bomb(200))
    settings.RECON_INBOX_DIR = str(tmp_path)
    done = tasks.nightly_reconcile.delay(today.isoformat()).get()
    assert {
        "channel": "ONLINE:WECHAT",
        "file": f"{today:%Y-%m-%d}.csv.gz",
        "refused": "archive_ratio_too_high",
    } in done
    assert [d["counts"]["matched"]["count"] for d in done if d.get("channel") == CHANNEL] == [1]
    assert StatementFile.objects.get().channel_code == CHANNEL


# The same statement re-sent --------------------------------------------------------------------------


@pytest.fixture
def six_matched(shop, today):
    """Six payments and the channel's statement of them, reconciled: all six matched."""
    noon = timezone.localtime().replace(hour=12, minute=0, second=0, microsecond=0)
    payments = [shop.pay(f"{10 + n}.00") for n in range(6)]
    lines = [("PAYMENT", p.channel_ref, f"{p.amount:.2f}", "", noon) for p in payments]
    data = billpay_csv(today, lines)
    run = services.reconcile_file(channel_code=CHANNEL, business_date=today, data=data, file_name="s.csv")
    assert run.counts[MatchClass.MATCHED]["count"] == 6 and not Discrepancy.objects.exists()
    return run, data, lines


def crlf(data: bytes) -> bytes:
    return data.replace(b"\n", b"\r\n")


def zipped(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("statement.csv", data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "resend",
    [
        crlf,
        lambda d: codecs.BOM_UTF8 + d,
        gzip.compress,
        lambda d: gzip.compress(crlf(codecs.BOM_UTF8 + d)),
        zipped,
    ],
    ids=["crlf", "bom", "gzip", "gzip-bom-crlf", "zip"],
)
def test_the_same_statement_re_sent_differently_is_recognised_and_changes_nothing(six_matched, today, resend):
    run, data, _lines = six_matched
    results_before = list(MatchResult.objects.values_list("id", "klass").order_by("id"))
    again = services.reconcile_file(
        channel_code=CHANNEL, business_date=today, data=resend(data), file_name="again.csv"
    )
    assert again.pk == run.pk
    assert StatementFile.objects.count() == 1 and StatementLine.objects.count() == 6
    assert list(MatchResult.objects.values_list("id", "klass").order_by("id")) == results_before
    assert not Discrepancy.objects.exists()  # no "duplicate", no "missing at the channel"


def test_a_second_different_statement_for_the_day_is_refused_and_reopens_nothing(six_matched, today):
    run, _data, lines = six_matched
    second = billpay_csv(today, [*lines, ("PAYMENT", "LATE-1", "99.00", "", None)])
    with pytest.raises(StatementRefused) as caught:
        services.reconcile_file(channel_code=CHANNEL, business_date=today, data=second, file_name="v2.csv")
    assert caught.value.code == "statement_day_taken"
    assert caught.value.params["file_name"] == "s.csv"
    assert StatementFile.objects.count() == 1 and ReconciliationRun.objects.get().pk == run.pk
    assert not Discrepancy.objects.exists()


def test_the_same_real_alipay_statement_zipped_and_plain_is_one_statement():
    first = import_(
        fixture_bytes("alipay/handmade_business_detail_2026-11-26.zip"), ALIPAY_DAY, "ONLINE:ALIPAY"
    )
    plain = fixture_bytes("alipay/handmade_business_detail_2026-11-26.csv")
    again = import_(crlf(plain.replace(b"\r\n", b"\n")), ALIPAY_DAY, "ONLINE:ALIPAY", name="plain.csv")
    assert first.created and not again.created and again.statement.pk == first.statement.pk
    utf8 = codecs.BOM_UTF8 + plain.decode("gbk").encode("utf-8")
    assert not import_(utf8, ALIPAY_DAY, "ONLINE:ALIPAY", name="utf8.csv").created
    assert StatementFile.objects.count() == 1


def test_a_statement_imported_before_fingerprints_is_still_recognised_by_its_content(six_matched, today):
    run, data, _lines = six_matched
    StatementFile.objects.update(content_fingerprint="")  # as the migration leaves older rows
    again = import_(gzip.compress(crlf(data)), today)
    assert not again.created and again.run.pk == run.pk
    assert StatementFile.objects.count() == 1 and not Discrepancy.objects.exists()


def test_the_fingerprint_is_kept_and_one_statement_per_channel_and_day_is_a_database_rule(six_matched, today):
    from django.db import IntegrityError, transaction

    statement = StatementFile.objects.get()
    assert len(statement.content_fingerprint) == 64
    with pytest.raises(IntegrityError), transaction.atomic():
        StatementFile.objects.create(
            channel_code=CHANNEL,
            business_date=today,
            format=statement.format,
            file_name="racing.csv",
            sha256="0" * 64,
            content_fingerprint="1" * 64,
            size=1,
            content=b"x",
            line_count=0,
        )


def test_of_two_statements_kept_for_a_day_from_before_the_rule_either_is_recognised(six_matched, today):
    run, data, lines = six_matched
    StatementFile.objects.update(content_fingerprint="")
    other = billpay_csv(today, [lines[0]])
    older = StatementFile.objects.create(
        channel_code=CHANNEL,
        business_date=today,
        format=run.statement.format,
        file_name="older.csv",
        sha256="0" * 64,
        size=len(other),
        content=other,
        line_count=1,
    )
    ReconciliationRun.objects.create(statement=older, channel_code=CHANNEL, business_date=today)
    assert import_(crlf(other), today).statement.pk == older.pk
    assert import_(gzip.compress(data), today).statement.pk == run.statement.pk
    with pytest.raises(StatementRefused) as caught:
        import_(billpay_csv(today, lines[:2]), today)
    assert caught.value.code == "statement_day_taken"
    assert StatementFile.objects.count() == 2


def test_a_confirmation_over_its_limit_is_refused_and_confirms_nothing(
    reconciled,  # noqa: F811
    today,
    settings,
    settle_on,
):
    services.settle_day(day=today, as_of=settle_on)
    settings.UNTRUSTED_FILE_MAX_BYTES = {**settings.UNTRUSTED_FILE_MAX_BYTES, "confirmation": 100}
    with pytest.raises(StatementRefused) as caught:
        services.import_settlement_confirmation(data=bank_confirmation(SettlementBatch.objects.get()))
    assert caught.value.code == "file_too_large"
    assert SettlementBatch.objects.get().status != SettlementStatus.CONFIRMED
