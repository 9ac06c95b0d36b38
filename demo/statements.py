"""The channels' statements of the demo's closed day, written as each channel writes them (the formats of
reconciliation/adapters/, after the real files in tests/reconciliation/fixtures/): the platform's CSV
(docs/statement-format.md, by its one writer `api.statements`), WeChat Pay's trade bill, Alipay's business
detail bill and a bank's ISO 20022 camt.053. Deterministic: the same lines give the same bytes."""

import datetime
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from xml.sax.saxutils import escape

from django.utils import timezone

from api import statements as platform_csv
from billing.money import CENT, ZERO

PAYMENT, REFUND = "payment", "refund"
WALLET_FEE_RATE = Decimal("0.006")  # what WeChat Pay and Alipay charge a merchant: 0.6 %


@dataclass(frozen=True)
class DayLine:
    """One transaction as the channel reports it."""

    kind: str
    ref: str  # the channel's own id of it
    merchant_ref: str  # our order number (the payment's key after `<source>:`)
    receipt_no: str
    biller_code: str
    account_no: str
    amount: Decimal
    occurred_at: datetime.datetime
    original_ref: str = ""  # a refund: the ref of the payment it gives back

    @property
    def local_time(self) -> str:
        return timezone.localtime(self.occurred_at).strftime("%Y-%m-%d %H:%M:%S")

    @property
    def wallet_fee(self) -> Decimal:
        return (self.amount * WALLET_FEE_RATE).quantize(CENT, rounding=ROUND_HALF_UP)


def end_of(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(23, 59, 59)))


def billpay_csv(channel_code: str, day: datetime.date, lines: list[DayLine]) -> bytes:
    return platform_csv.write_statement(
        channel_code=channel_code,
        day=day,
        lines=[
            platform_csv.StatementLine(
                txn_type=platform_csv.PAYMENT if line.kind == PAYMENT else platform_csv.REFUND,
                channel_ref=line.ref,
                receipt_no=line.receipt_no,
                biller_code=line.biller_code,
                account_no=line.account_no,
                amount=line.amount,
                fee=ZERO,
                occurred_at=line.occurred_at,
                original_channel_ref=line.original_ref,
            )
            for line in lines
        ],
        generated_at=end_of(day),
    ).encode()


WECHAT_COLUMNS = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
    "货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,"
    "商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
)
WECHAT_TOTALS = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
WECHAT_APP, WECHAT_MERCHANT = "wx6f3d9a1c2b4e5f70", "1650012345"


def wechat_bill(lines: list[DayLine]) -> bytes:
    """WeChat Pay's trade bill of type ALL (API v3 tradebill): every value behind a back-tick."""
    return ("\r\n".join(wechat_bill_rows(lines)) + "\r\n").encode("utf-8")


def wechat_bill_rows(lines: Iterable[DayLine]) -> Iterator[str]:
    """`wechat_bill`'s rows one by one, its totals added up on the way (a million-line bill is written
    without being held: benchmarks/statement_import.py)."""
    yield WECHAT_COLUMNS
    settled = refunded = fees = ordered = ZERO
    count = 0
    for line in lines:
        fee = line.wallet_fee
        if line.kind == PAYMENT:
            status, refund_no, merchant_refund, refund, refund_type, refund_status = (
                "SUCCESS",
                "0",
                "0",
                ZERO,
                "",
                "",
            )
        else:
            status, refund_no, merchant_refund, refund, refund_type, refund_status = (
                "REFUND",
                line.ref,
                f"RF-{line.merchant_ref}",
                line.amount,
                "ORIGINAL",
                "SUCCESS",
            )
        trade_no = line.ref if line.kind == PAYMENT else line.original_ref
        values = [
            line.local_time,
            WECHAT_APP,
            WECHAT_MERCHANT,
            "0",
            "",
            trade_no,
            line.merchant_ref,
            "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
            "NATIVE",
            status,
            "OTHERS",
            "CNY",
            f"{line.amount:.2f}",
            "0.00",
            refund_no,
            merchant_refund,
            f"{refund:.2f}",
            "0.00",
            refund_type,
            refund_status,
            line.biller_code,
            line.account_no,
            f"{fee:.5f}",
            "0.60%",
            f"{line.amount:.2f}",
            f"{refund:.2f}",
            "",
        ]
        yield ",".join(f"`{value}" for value in values)
        count += 1
        settled += line.amount
        refunded += refund
        fees += fee
        ordered += line.amount
    yield WECHAT_TOTALS
    totals = [count, f"{settled:.2f}", f"{refunded:.2f}", "0.00", f"{fees:.5f}", f"{ordered:.2f}"]
    yield ",".join(f"`{value}" for value in [*totals, f"{refunded:.2f}"])


ALIPAY_COLUMNS = (
    "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,"
    "订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,"
    "券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注"
)
ALIPAY_ACCOUNT = "20880123456789010156"


def alipay_bill(day: datetime.date, lines: list[DayLine]) -> bytes:
    """Alipay's business detail bill (业务明细): `#` comment lines around the table, ids followed by a
    TAB, refunds as 退款 rows with negative amounts; GBK, as Alipay sends it."""
    following = day + datetime.timedelta(days=1)
    rows = [
        "#支付宝业务明细查询",
        f"#账号：[{ALIPAY_ACCOUNT}]",
        f"#起始日期：[{day:%Y年%m月%d日} 00:00:00]   终止日期：[{following:%Y年%m月%d日} 00:00:00]",
        "#-----------------------------------------业务明细列表----------------------------------------",
        ALIPAY_COLUMNS,
    ]
    net = ZERO
    for line in lines:
        fee = line.wallet_fee
        if line.kind == PAYMENT:
            trade_no, kind, amount, fee_text, batch = line.ref, "交易", line.amount, f"-{fee:.2f}", ""
        else:
            trade_no, kind, amount, fee_text = line.original_ref, "退款", -line.amount, f"{fee:.2f}"
            batch = line.ref.split("/", 1)[-1] + "\t"
        rows.append(
            f"{trade_no}\t,{line.merchant_ref}\t,{kind},{line.biller_code},{line.local_time},{line.local_time},"
            f",,,,buyer***@example.com,{amount:.2f},{amount:.2f},0.00,0.00,0.00,0.00,0.00,,0.00,0.00,"
            f"{batch},{fee_text},0.00,"
        )
        net += amount
    rows += [
        "#-----------------------------------------业务明细列表结束------------------------------------",
        f"#交易合计：{len(lines)}笔，商家实收共{net:.2f}元，商家优惠共0.00元",
        f"#导出时间：[{following:%Y年%m月%d日} 02:00:00]",
    ]
    return ("\r\n".join(rows) + "\r\n").encode("gbk")


BANK_ACCOUNT = "6222600110012345678"


def camt053(day: datetime.date, lines: list[DayLine], *, statement_id: str) -> bytes:
    """A bank's end-of-day statement (ISO 20022 camt.053.001.02) of the platform's collection account: a
    credit per payment received (AcctSvcrRef the bank's id, EndToEndId our order number, the receipt in the
    remittance information), a debit per refund (EndToEndId the payment it gives back)."""
    entries = []
    net = ZERO
    for line in lines:
        credit = line.kind == PAYMENT
        remittance = " ".join(filter(None, [line.receipt_no, line.biller_code, line.account_no]))
        net += line.amount if credit else -line.amount
        entries.append(
            f"""      <Ntry>
        <Amt Ccy="CNY">{line.amount:.2f}</Amt>
        <CdtDbtInd>{"CRDT" if credit else "DBIT"}</CdtDbtInd>
        <Sts>BOOK</Sts>
        <BookgDt><Dt>{day.isoformat()}</Dt></BookgDt>
        <ValDt><Dt>{day.isoformat()}</Dt></ValDt>
        <AcctSvcrRef>{escape(line.ref)}</AcctSvcrRef>
        <BkTxCd><Prtry><Cd>{"RCDT" if credit else "RFND"}</Cd></Prtry></BkTxCd>
        <NtryDtls><TxDtls>
          <Refs><EndToEndId>{escape(line.merchant_ref if credit else line.original_ref)}</EndToEndId></Refs>
          <RmtInf><Ustrd>{escape(remittance)}</Ustrd></RmtInf>
        </TxDtls></NtryDtls>
      </Ntry>"""
        )
    body = "\n".join(entries)
    created = timezone.localtime(end_of(day)).isoformat()
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>{statement_id}</MsgId><CreDtTm>{created}</CreDtTm></GrpHdr>
    <Stmt>
      <Id>{statement_id}</Id>
      <CreDtTm>{created}</CreDtTm>
      <Acct><Id><Othr><Id>{BANK_ACCOUNT}</Id></Othr></Id><Ccy>CNY</Ccy></Acct>
      {balance("OPBD", ZERO, day)}
      {balance("CLBD", net, day)}
      <TxsSummry><TtlNtries><NbOfNtries>{len(lines)}</NbOfNtries></TtlNtries></TxsSummry>
{body}
    </Stmt>
  </BkToCstmrStmt>
</Document>
"""
    return text.encode("utf-8")


def balance(code: str, amount: Decimal, day: datetime.date) -> str:
    """A booked balance of the statement (OPBD opening, CLBD closing)."""
    sign = "CRDT" if amount >= 0 else "DBIT"
    return (
        f'<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy="CNY">{abs(amount):.2f}</Amt>'
        f"<CdtDbtInd>{sign}</CdtDbtInd><Dt><Dt>{day.isoformat()}</Dt></Dt></Bal>"
    )
