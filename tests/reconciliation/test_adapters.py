"""Statement adapters on real files: they parse what channels deliver and refuse broken files whole,
naming the line."""

import datetime
import json
from decimal import Decimal

import pytest

from reconciliation.adapters import camt as camt_adapter
from reconciliation.adapters import parse_statement
from reconciliation.choices import LineKind, StatementFormat
from reconciliation.exceptions import StatementRefused
from tests.reconciliation.conftest import FIXTURES, billpay_csv, fixture_bytes

DAY = datetime.date(2026, 11, 26)


def refused(data, fmt=None) -> StatementRefused:
    with pytest.raises(StatementRefused) as caught:
        parse_statement(data, fmt)
    return caught.value


class TestPlatformCsv:
    def good(self):
        return billpay_csv(
            DAY,
            [
                ("PAYMENT", "SBX-1", "128.40", "", None),
                ("REFUND", "SBX-2", "128.40", "SBX-1", None),
            ],
        )

    def test_reads_header_lines_and_trailer(self):
        parsed = parse_statement(self.good())
        assert parsed.format == StatementFormat.BILLPAY
        assert parsed.channel_code == "ONLINE:SANDBOX" and parsed.business_date == DAY
        assert [(ln.kind, ln.channel_ref, ln.amount, ln.original_ref) for ln in parsed.lines] == [
            (LineKind.PAYMENT, "SBX-1", Decimal("128.40"), ""),
            (LineKind.REFUND, "SBX-2", Decimal("128.40"), "SBX-1"),
        ]

    @pytest.mark.parametrize(
        ("old", "new", "line", "code"),
        [
            (",128.40,0.00,CNY", ",128.4,0.00,CNY", 3, "line_invalid"),
            ("D,REFUND", "D,CHARGEBACK", 4, "line_invalid"),
            ("T,2,128.40", "T,3,128.40", 5, "totals_mismatch"),
            ("T,2,128.40,128.40", "T,2,128.41,128.40", 5, "totals_mismatch"),
            (",SBX-1\n", ",\n", 4, "line_invalid"),
            ("+08:00,\n", ",\n", 3, "line_invalid"),
            ("SBX-2", "SBX-1", 4, "line_invalid"),
            ("CNY", "USD", 3, "currency_not_cny"),
        ],
    )
    def test_a_broken_file_is_refused_with_its_line(self, old, new, line, code):
        data = self.good().decode().replace(old, new, 1).encode()
        error = refused(data)
        assert (error.code, error.params["line"]) == (code, line)
        assert str(line) in error.message

    def test_a_file_without_trailer_is_refused(self):
        data = b"\n".join(self.good().splitlines()[:-1]) + b"\n"
        assert refused(data).code == "trailer_missing"

    def test_the_message_is_translated(self):
        from django.utils import translation

        data = self.good().decode().replace("T,2", "T,3").encode()
        with translation.override("zh-hans"):
            assert "第" in refused(data).message or "行" in refused(data).message


class TestWeChat:
    def test_reads_the_all_bill_and_checks_its_totals(self):
        parsed = parse_statement(fixture_bytes("wechat/gunsluo-wechatpay-go__tradebill_ALL_2021-01-28.csv"))
        assert parsed.format == StatementFormat.WECHAT
        assert len(parsed.lines) == 3
        assert parsed.lines[0].channel_ref == "4200000925202101284997714292"
        assert parsed.lines[0].merchant_ref == "S20210128170702357723"
        assert parsed.payments_total == Decimal("0.03")
        assert parsed.lines[0].occurred_at == datetime.datetime(2021, 1, 28, 9, 7, 11, tzinfo=datetime.UTC)

    def test_the_gzip_download_is_the_same_bill(self):
        plain = parse_statement(fixture_bytes("wechat/gunsluo-wechatpay-go__tradebill_ALL_2021-01-28.csv"))
        packed = parse_statement(
            fixture_bytes("wechat/gunsluo-wechatpay-go__tradebill_ALL_2021-01-28.csv.gz")
        )
        assert plain.lines == packed.lines

    def test_reads_refunds_against_the_order_they_refund(self):
        parsed = parse_statement(
            fixture_bytes("wechat/gunsluo-wechatpay-go__tradebill_REFUND_2021-02-01.csv")
        )
        refund = parsed.lines[0]
        assert refund.kind == LineKind.REFUND
        assert refund.channel_ref == "50300807172021020106006664916"
        assert refund.original_ref == "4200000844202101245866928772"
        assert parsed.refunds_total == Decimal("0.02")

    def test_gbk_is_read_like_utf8(self):
        data = fixture_bytes("wechat/gunsluo-wechatpay-go__tradebill_SUCCESS_2021-02-01.csv")
        assert parse_statement(data.decode().encode("gbk")).lines == parse_statement(data).lines

    @pytest.mark.parametrize(
        ("name", "line"),
        [
            ("NEG_tradebill_ALL_bad_row_amount", 4),
            ("NEG_tradebill_ALL_bad_summary_amount", 6),
            ("NEG_tradebill_ALL_bad_summary_count", 6),
            ("NEG_tradebill_SUCCESS_bad_amount_missing_backtick", 2),
        ],
    )
    def test_the_broken_copies_are_refused_with_their_line(self, name, line):
        error = refused(fixture_bytes(f"wechat/gunsluo-wechatpay-go__{name}.csv"))
        assert error.code == "line_invalid" and error.params["line"] == line

    def test_totals_that_do_not_add_up_are_refused(self):
        data = fixture_bytes("wechat/gunsluo-wechatpay-go__tradebill_ALL_2021-01-28.csv").decode()
        error = refused(
            data.replace(
                "`3,`0.03,`0.00,`0.00,`0.00000,`0.03", "`3,`0.04,`0.00,`0.00,`0.00000,`0.03"
            ).encode()
        )
        assert (error.code, error.params["line"], error.params["field"]) == (
            "totals_mismatch",
            6,
            "应结订单总金额",
        )

    def test_a_total_of_a_column_the_bill_has_not_is_checked_against_zero(self):
        data = fixture_bytes("wechat/gunsluo-wechatpay-go__tradebill_SUCCESS_2021-02-01.csv").decode()
        assert "退款金额" not in data.split("\n", 1)[0]  # a SUCCESS bill has no refund columns
        error = refused(data.replace("`1,`0.01,`0.00,", "`1,`0.01,`0.30,").encode())
        assert (error.code, error.params["field"]) == ("totals_mismatch", "退款总金额")

    @pytest.mark.parametrize(
        ("amount", "taken"),
        [(" 0.01 ", "0.01"), ("0.1", "0.10"), ("1", "1.00"), ("１.００", "1.00")],
        ids=["spaces", "one-decimal", "whole", "full-width"],
    )
    def test_an_amount_is_read_as_the_other_adapters_read_it(self, amount, taken):
        data = fixture_bytes("wechat/gunsluo-wechatpay-go__tradebill_SUCCESS_2021-02-01.csv").decode()
        data = data.replace("`CNY,`0.01,", f"`CNY,`{amount},").replace(
            ",`1.00%,`0.01,", f",`1.00%,`{amount},"
        )
        parsed = parse_statement(
            data.replace("`1,`0.01,", f"`1,`{amount},")
            .replace(",`0.01,`0.00\n", f",`{amount},`0.00\n")
            .encode()
        )
        assert [str(line.amount) for line in parsed.lines] == [taken]

    @pytest.mark.parametrize("amount", ["0.001", "1e2", "-1.00", "1.0.0", "", "12345678901234.00"])
    def test_an_amount_that_is_not_one_is_refused_with_its_row_and_column(self, amount):
        data = fixture_bytes("wechat/gunsluo-wechatpay-go__tradebill_SUCCESS_2021-02-01.csv").decode()
        error = refused(data.replace(",`1.00%,`0.01,", f",`1.00%,`{amount},").encode())
        assert (error.code, error.params["line"]) == ("line_invalid", 2)
        assert "订单金额" in str(error.params["reason"])

    def test_a_fund_flow_bill_is_not_a_trade_bill(self):
        assert refused(
            fixture_bytes("wechat/gunsluo-wechatpay-go__fundflowbill_BASIC_2021-02-01.csv.gz")
        ).code == ("format_unknown")


class TestAlipay:
    def test_reads_the_business_detail_bill_between_its_comment_lines(self):
        parsed = parse_statement(fixture_bytes("alipay/handmade_business_detail_2026-11-26.csv"))
        assert parsed.format == StatementFormat.ALIPAY
        assert [(ln.kind, ln.channel_ref, ln.amount) for ln in parsed.lines] == [
            (LineKind.PAYMENT, "2026112622001400001", Decimal("128.40")),
            (LineKind.PAYMENT, "2026112622001400002", Decimal("56.00")),
            (LineKind.REFUND, "2026112622001400001/RF20261126001", Decimal("128.40")),
        ]
        assert parsed.lines[0].merchant_ref == "ALI-0001"
        assert parsed.lines[2].original_ref == "2026112622001400001"

    def test_the_zip_download_is_the_same_bill(self):
        plain = parse_statement(fixture_bytes("alipay/handmade_business_detail_2026-11-26.csv"))
        zipped = parse_statement(fixture_bytes("alipay/handmade_business_detail_2026-11-26.zip"))
        assert plain.lines == zipped.lines

    def test_a_total_that_does_not_add_up_is_refused(self):
        data = fixture_bytes("alipay/handmade_business_detail_2026-11-26.csv").decode("gbk")
        error = refused(data.replace("商家实收共56.00元", "商家实收共184.40元").encode("gbk"))
        assert (error.code, error.params["line"]) == ("totals_mismatch", 10)

    def test_a_personal_export_is_not_a_merchant_bill(self):
        assert refused(
            fixture_bytes("alipay/double-entry-generator__example-alipay-records_PERSONAL_GBK.csv")
        ).code == ("format_unknown")


def oracle_entries(path):
    """The independent parser's (genkgo/camt) view of each entry: its record's id and account, the signed
    amount in minor units, currency, indicator, status, booking date and servicer reference."""
    message = json.loads(path.read_text())
    found = []
    for e in message.get("getEntries") or []:
        record = e["getRecord"]
        found.append(
            (
                record["getId"],
                record["getAccount"]["getIdentification"],
                {
                    "amount_minor": e["getAmount"]["getAmount"],
                    "currency": e["getAmount"]["getCurrency"]["getCode"],
                    "indicator": e["getCreditDebitIndicator"],
                    "status": e["getStatus"],
                    "booking_date": ((e["getBookingDate"] or {}).get("0") or "")[:10] or None,
                    "servicer_ref": e["getAccountServicerReference"],
                },
            )
        )
    return found


CAMT_FILES = sorted(
    p
    for p in list((FIXTURES / "camt053").glob("*.xml")) + list((FIXTURES / "camt054").glob("*.xml"))
    if "wrong" not in p.name
)


class TestCamt:
    @pytest.mark.parametrize("path", CAMT_FILES, ids=lambda p: p.stem)
    def test_entries_agree_with_the_independent_parser(self, path):
        parsed = camt_adapter.parse(path.read_bytes(), check_totals=False)
        keys = ["amount_minor", "currency", "indicator", "status", "booking_date", "servicer_ref"]
        mine = [
            (r["id"], r["account"], {k: e[k] for k in keys}) for r in parsed.records for e in r["entries"]
        ]
        theirs = oracle_entries(path.with_suffix(".json"))
        assert all(entry in mine for entry in theirs)
        assert len(mine) >= len(theirs)

    def test_versions_two_to_eight_are_read(self):
        formats = {
            parse_statement((FIXTURES / "camt053" / f"genkgo-camt__camt053.{v}.xml").read_bytes()).format
            for v in ("v3", "v4", "v8")
        }
        assert formats == {StatementFormat.CAMT053}

    def test_a_debit_is_a_refund_line_and_a_credit_a_payment_line(self):
        parsed = parse_statement(
            (FIXTURES / "camt053" / "genkgo-camt__camt053.v2.multi.statement.xml").read_bytes()
        )
        assert [(ln.kind, ln.amount) for ln in parsed.lines] == [
            (LineKind.PAYMENT, Decimal("8.85")),
            (LineKind.REFUND, Decimal("7.00")),
        ]

    def test_a_closing_balance_that_does_not_follow_is_refused_at_its_line(self):
        error = refused((FIXTURES / "camt053" / "genkgo-camt__camt053.v2.five.decimals.xml").read_bytes())
        assert (error.code, error.params["field"], error.params["line"]) == ("totals_mismatch", "CLBD", 49)

    def test_a_statement_without_statements_is_refused(self):
        error = refused((FIXTURES / "camt053" / "genkgo-camt__camt053.v2.wrong.xml").read_bytes())
        assert error.code == "line_invalid"

    def test_an_unknown_namespace_is_refused(self):
        data = (
            (FIXTURES / "camt054" / "genkgo-camt__camt054.v8.xml")
            .read_bytes()
            .replace(b"camt.054.001.08", b"camt.099.001.08")
        )
        assert refused(data, StatementFormat.CAMT054).code == "namespace_unknown"

    def test_broken_xml_is_refused_with_its_line(self):
        data = (
            (FIXTURES / "camt054" / "genkgo-camt__camt054.v8.xml").read_bytes().replace(b"</Ntry>", b"</Ntr>")
        )
        error = refused(data)
        assert error.code == "xml_invalid" and error.params["line"] > 1


def test_an_unknown_file_is_refused():
    assert refused(b"hello,world\n1,2\n").code == "format_unknown"
