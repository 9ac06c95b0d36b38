"""A WeChat Pay trade bill is imported as a stream: its lines are written by the import as they are read,
in the one transaction that keeps the file, so a refusal at any line (or of its totals at the end) leaves
nothing; its content fingerprint, taken back from the written lines, is the one the whole-file parse gives."""

import codecs
import datetime
import gzip
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone, translation

from demo.statements import PAYMENT, REFUND, DayLine, camt053, wechat_bill
from reconciliation import services
from reconciliation.adapters import parse_statement, wechat
from reconciliation.choices import LineKind, RunStatus, StatementFormat
from reconciliation.exceptions import StatementRefused
from reconciliation.models import StatementFile, StatementLine
from reconciliation.services import runs, statement_lines
from tests.billing.test_untrusted_files import MIB, peak_while
from tests.reconciliation.conftest import CHANNEL
from tests.reconciliation.test_untrusted_statements import nothing_stored

pytestmark = pytest.mark.django_db
DAY = datetime.date(2026, 11, 20)
# Order numbers that sort differently by code point than by any locale, or that JSON escapes.
TRICKY = ["tab\there", "ctl\x01", "a-b", "a_b", "A b", "Ab", "中文", "ａ全角", 'q"uote', "back\\slash", "z!"]
# Order numbers with none of those: each line's JSON is then its texts between quotes, sorted as text.
PLAIN = ["a-b", "a_b", "Ab", "ab", "a", "中文", "ａ全角", "z~", "é"]


def lines(count: int, day: datetime.date = DAY, tricky: list[str] = TRICKY) -> list[DayLine]:
    noon = timezone.make_aware(datetime.datetime.combine(day, datetime.time(12, 0)))
    out = []
    for n in range(count):
        merchant_ref = tricky[n % len(tricky)] + str(n)
        amount = Decimal(
            f"{(n % 7) * 45 + 9}.{n % 100:02d}"
        )  # "9.xx" and "100.xx": text order is not number order
        when = noon + datetime.timedelta(seconds=n, microseconds=0 if n % 2 else 250_000)
        out.append(DayLine(PAYMENT, f"42000{n:023d}", merchant_ref, "", "", "", amount, when))
        if n % 5 == 4:
            out.append(
                DayLine(
                    REFUND, f"50300{n:023d}", merchant_ref, "", "", "", Decimal("1.00"), when, out[-1].ref
                )
            )
    return out


def import_(data: bytes, day: datetime.date = DAY):
    return services.import_statement(channel_code=CHANNEL, business_date=day, data=data, file_name="bill.csv")


def test_the_lines_are_written_by_the_import_with_the_whole_file_fingerprint_and_totals(monkeypatch):
    data = codecs.BOM_UTF8 + wechat_bill(lines(60))
    result = import_(data)
    parsed = parse_statement(data)
    statement = result.statement
    assert result.created and statement.line_count == len(parsed.lines) == 72
    assert statement.content_fingerprint == parsed.fingerprint(CHANNEL, DAY)
    assert (statement.payments_total, statement.refunds_total, statement.fees_total) == (
        parsed.payments_total,
        parsed.refunds_total,
        parsed.fees_total,
    )
    written = list(StatementLine.objects.filter(statement=statement).order_by("line_no"))
    assert [
        (ln.line_no, ln.kind, ln.channel_ref, ln.merchant_ref, ln.amount, ln.fee, ln.occurred_at)
        for ln in written
    ] == [
        (ln.line_no, ln.kind, ln.channel_ref, ln.merchant_ref, ln.amount, ln.fee, ln.occurred_at)
        for ln in parsed.lines
    ]
    assert {ln.kind for ln in written} == {LineKind.PAYMENT, LineKind.REFUND}
    assert result.run.loaded_lines == result.run.total_lines == 72

    def no_second_read(*args, **kwargs):
        raise AssertionError("the run read the file again")

    monkeypatch.setattr(runs, "parse_statement", no_second_read)
    run = services.run_reconciliation(run_id=result.run.pk)
    assert run.status == RunStatus.DONE and StatementLine.objects.count() == 72
    assert sum(entry["count"] for entry in run.counts.values()) >= 72


def fingerprint_calls(monkeypatch, keyword: str) -> list:
    """The value of `keyword` in each call of `statement_lines.fingerprint`, which still runs."""
    taken = []
    fingerprint = statement_lines.fingerprint
    monkeypatch.setattr(
        statement_lines, "fingerprint", lambda *a, **k: taken.append(k[keyword]) or fingerprint(*a, **k)
    )
    return taken


@pytest.mark.parametrize(("tricky", "plain"), [(TRICKY, False), (PLAIN, True)], ids=["escaped", "plain"])
def test_the_fingerprint_is_the_whole_file_one_by_either_query(tricky, plain, monkeypatch):
    monkeypatch.setattr(wechat, "SUM_EVERY", 7)  # the totals added up in several goes
    fingerprint = statement_lines.fingerprint
    taken = fingerprint_calls(monkeypatch, "plain")
    data = wechat_bill(lines(60, tricky=tricky))
    statement = import_(data).statement
    parsed = parse_statement(data)
    assert taken == [plain] and statement.content_fingerprint == parsed.fingerprint(CHANNEL, DAY)
    assert (statement.payments_total, statement.fees_total) == (parsed.payments_total, parsed.fees_total)
    if plain:  # the general query gives the same on the same lines
        assert fingerprint(statement.pk, CHANNEL, DAY, plain=False) == statement.content_fingerprint


def test_a_wrong_total_is_refused_however_many_goes_the_totals_are_added_up_in(monkeypatch):
    monkeypatch.setattr(wechat, "SUM_EVERY", 7)
    data = wechat_bill(lines(30))
    rows = data.split(b"\r\n")
    rows[-2] = rows[-2].replace(b",`", b",`1", 1)  # the totals row's first sum
    with pytest.raises(StatementRefused) as caught:
        import_(b"\r\n".join(rows))
    assert (caught.value.code, caught.value.params["field"]) == ("totals_mismatch", "应结订单总金额")
    assert nothing_stored()


@pytest.mark.parametrize(
    "resend",
    [gzip.compress, lambda d: d.replace(b"\r\n", b"\n"), lambda d: codecs.BOM_UTF8 + d],
    ids=["gzip", "lf", "bom"],
)
def test_the_same_bill_re_sent_differently_is_recognised(resend):
    data = wechat_bill(lines(30))
    first = import_(data)
    again = import_(resend(data))
    assert not again.created and again.statement.pk == first.statement.pk
    assert StatementFile.objects.count() == 1 and StatementLine.objects.count() == 36


def test_a_bill_imported_before_fingerprints_is_recognised_by_the_streamed_one():
    data = wechat_bill(lines(30))
    first = import_(data)
    StatementFile.objects.filter(pk=first.statement.pk).update(content_fingerprint="")  # as before the rule
    again = import_(gzip.compress(data))
    assert not again.created and again.statement.pk == first.statement.pk


def test_a_different_bill_for_the_day_is_refused_and_its_lines_are_not_kept():
    import_(wechat_bill(lines(30)))
    with pytest.raises(StatementRefused) as caught:
        import_(wechat_bill(lines(31)))
    assert caught.value.code == "statement_day_taken"
    assert StatementFile.objects.count() == 1 and StatementLine.objects.count() == 36


def with_row(data: bytes, number: int, old: bytes, new: bytes) -> bytes:
    rows = data.split(b"\r\n")
    rows[number - 1] = rows[number - 1].replace(old, new, 1)
    return b"\r\n".join(rows)


@pytest.mark.parametrize(
    ("spoil", "code", "line"),
    [
        (lambda d: with_row(d, 20, b",`CNY,", b",`USD,"), "currency_not_cny", 20),
        (lambda d: with_row(d, 18, b",`SUCCESS,", b",`PAID,"), "line_invalid", 18),
        (lambda d: with_row(d, 37, b"`42000", b"`" + b"9" * 70), "line_invalid", 37),
        (lambda d: with_row(d, 39, b"`36,", b"`35,"), "totals_mismatch", 39),
        (lambda d: d[: d.index("\r\n总交易单数".encode()) + 2], "trailer_missing", 38),
    ],
    ids=["currency", "status", "too-long", "count", "no-totals"],
)
def test_a_bill_refused_at_any_line_leaves_nothing(spoil, code, line):
    data = spoil(wechat_bill(lines(30)))
    with translation.override("zh-hans"), pytest.raises(StatementRefused) as caught:
        import_(data)
    assert (caught.value.code, caught.value.params["line"]) == (code, line)
    assert nothing_stored()


def test_a_value_longer_than_its_column_is_refused_with_its_line_in_the_users_language():
    data = with_row(wechat_bill(lines(10)), 5, b"`42000", b"`" + b"9" * 70)
    with translation.override("zh-hans"), pytest.raises(StatementRefused) as caught:
        import_(data)
    assert caught.value.params["line"] == 5 and "长于 64 个字符" in caught.value.message


@pytest.mark.parametrize(
    "write",
    [
        lambda day, n: gzip.compress(wechat_bill(lines(n, day))),
        lambda day, n: camt053(day, lines(n, day, tricky=["in-xml"]), statement_id=f"S{day:%Y%m%d}"),
    ],
    ids=["wechat", "camt053"],
)
def test_a_statement_is_imported_in_memory_that_does_not_grow_with_its_lines(write):
    next_day = DAY + datetime.timedelta(days=1)
    small, large = write(DAY, 1_500), write(next_day, 9_000)
    _, small_peak = peak_while(lambda: import_(small))
    raised, large_peak = peak_while(lambda: import_(large, next_day))
    assert raised is None and StatementLine.objects.count() == 12_600
    # six times the lines, nowhere near six times the memory (the whole-file parse held ~5 KB a line): one
    # copy of the file as it arrived (sent to PostgreSQL to be kept) and a few pieces
    assert large_peak < small_peak + len(large) + 2 * MIB, (small_peak, large_peak, len(large))


@pytest.fixture
def small_copies(monkeypatch):
    """COPYs of 7 lines, handed over 3 at a time, one batch waiting: a small bill in many COPYs."""
    monkeypatch.setattr(statement_lines, "CHUNK_LINES", 7)
    monkeypatch.setattr(statement_lines, "BATCH_LINES", 3)
    monkeypatch.setattr(statement_lines, "QUEUED_BATCHES", 1)


@pytest.mark.parametrize(("tricky", "prepared"), [(TRICKY, False), (PLAIN, True)], ids=["escaped", "plain"])
def test_a_bill_written_in_many_copies_has_every_line_and_the_whole_file_fingerprint(
    tricky, prepared, small_copies, monkeypatch
):
    taken = fingerprint_calls(monkeypatch, "prepared")
    data = wechat_bill(lines(30, tricky=tricky))
    statement = import_(data).statement
    parsed = parse_statement(data)
    # a plain bill's lines were made ready for the fingerprint as they were written, and give the same
    assert taken == [prepared] and statement.content_fingerprint == parsed.fingerprint(CHANNEL, DAY)
    written = StatementLine.objects.filter(statement=statement).order_by("line_no")
    assert list(written.values_list("line_no", "channel_ref", "amount")) == [
        (ln.line_no, ln.channel_ref, ln.amount) for ln in parsed.lines
    ]


def test_a_bill_refused_after_several_copies_leaves_nothing_and_the_next_one_goes_in(small_copies):
    with pytest.raises(StatementRefused) as caught:
        import_(with_row(wechat_bill(lines(30)), 33, b",`CNY,", b",`USD,"))
    assert (caught.value.code, caught.value.params["line"]) == ("currency_not_cny", 33)
    assert nothing_stored()
    assert import_(wechat_bill(lines(30))).statement.line_count == 36


def statement_key_names() -> list[str]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, StatementLine._meta.db_table)
    return [name for name, c in constraints.items() if c["foreign_key"] and c["columns"] == ["statement_id"]]


@pytest.mark.parametrize("renamed", [False, True], ids=["as-migrated", "renamed"])
def test_a_line_of_a_missing_statement_is_refused_as_its_copy_ends_whatever_the_key_is_called(
    renamed, small_copies
):
    if renamed:  # the key is found in the catalogue, not by the name a migration gave it
        [name] = statement_key_names()
        with connection.cursor() as cursor:
            table = StatementLine._meta.db_table
            cursor.execute(f"ALTER TABLE {table} RENAME CONSTRAINT {name} TO recon_line_statement_x")
        assert statement_key_names() == ["recon_line_statement_x"]
    missing = (StatementFile.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000
    parsed = parse_statement(wechat_bill(lines(10)))
    # the test's transaction never commits: a check deferred to COMMIT would never be made
    with pytest.raises(IntegrityError, match="statement_id"), transaction.atomic():
        statement_lines.copy_lines(missing, parsed.lines)
    assert not StatementLine.objects.exists()


# camt.053 / camt.054: read with element clearing, each record's balances and summary checked at its end


def camt_day(count: int) -> bytes:
    in_xml = [ref for ref in TRICKY if "\x01" not in ref]  # XML 1.0 has no control characters
    return camt053(DAY, lines(count, tricky=in_xml), statement_id="STMT-20261120")


def test_a_camt_statement_is_written_line_by_line_with_the_whole_file_fingerprint(monkeypatch):
    data = camt_day(40)
    result = import_(data)
    parsed = parse_statement(data)
    assert parsed.format == StatementFormat.CAMT053 and result.statement.format == StatementFormat.CAMT053
    assert result.statement.line_count == len(parsed.lines) == 48
    assert result.statement.content_fingerprint == parsed.fingerprint(CHANNEL, DAY)
    written = list(StatementLine.objects.order_by("line_no").values_list("line_no", "kind", "channel_ref"))
    assert written == [(ln.line_no, ln.kind, ln.channel_ref) for ln in parsed.lines]
    monkeypatch.setattr(runs, "parse_statement", lambda *a, **k: pytest.fail("the run read the file again"))
    assert services.run_reconciliation(run_id=result.run.pk).status == RunStatus.DONE


def test_the_same_camt_statement_gzipped_is_recognised():
    first = import_(camt_day(10))
    again = import_(gzip.compress(camt_day(10)))
    assert not again.created and again.statement.pk == first.statement.pk


@pytest.mark.parametrize(
    ("spoil", "code"),
    [
        (lambda d: d.replace(b"<NbOfNtries>12<", b"<NbOfNtries>13<"), "totals_mismatch"),
        (lambda d: b'Ccy="USD">'.join(d.rsplit(b'Ccy="CNY">', 1)), "currency_not_cny"),  # the last entry
        (lambda d: d.replace(b"camt.053.001.02", b"camt.054.001.02"), "format_mismatch"),
        (lambda d: d.replace(b"</Stmt>", b""), "xml_invalid"),
    ],
    ids=["summary-count", "currency", "other-kind", "cut"],
)
def test_a_camt_statement_refused_anywhere_leaves_nothing(spoil, code):
    data = spoil(camt_day(10))
    with pytest.raises(StatementRefused) as caught:
        services.import_statement(
            channel_code=CHANNEL, business_date=DAY, data=data, file_name="s.xml", fmt=StatementFormat.CAMT053
        )
    assert caught.value.code == code
    assert nothing_stored()
