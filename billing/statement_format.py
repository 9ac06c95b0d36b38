"""The platform's CSV statement, version 1 (docs/statement-format.md), declared once.

The writer (`api.statements`, a partner's day from the partner API) and the parser
(`reconciliation.adapters.billpay`, the reconciliation import) both read the format from here; the two
apps sit side by side and know nothing of each other, so the declaration lives in the core.

A file is an H line (`H,BILLPAY-STATEMENT,1,<channel>,<day>,<generated at>`), the column header, one D
line per transaction with `COLUMNS`, and a T line (`T,<count>,<payments>,<refunds>,<fees>`).
"""

FORMAT_NAME = "BILLPAY-STATEMENT"
FORMAT_VERSION = "1"
HEADER, DETAIL, TRAILER = "H", "D", "T"
HEADER_FIELDS = 6  # H, format name, version, channel code, day, generated at
TRAILER_FIELDS = 5  # T, count, payments, refunds, fees
COLUMNS = (
    "record_type",
    "txn_type",
    "channel_ref",
    "receipt_no",
    "biller_code",
    "account_no",
    "amount",
    "fee",
    "currency",
    "occurred_at",
    "original_channel_ref",
)
PAYMENT = "PAYMENT"
REFUND = "REFUND"
CURRENCY = "CNY"
