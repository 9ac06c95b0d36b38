"""Writes of reconciliation and settlement. Money moves only through billing.services (post_payment,
reverse_payment) and billing.ledger (settlement and write-off entries); every action is audited.

One module per section, in the order money goes through them:

* `statements` — a channel's statement file checked whole and kept once, with a pending run;
* `runs` — the run: the statement's lines loaded in committed batches, then matched;
* `discrepancies` — what the match left over, resolved by an action that keeps the ledger balanced;
* `settlement` — a batch per biller and cut-off day of what is settleable and in no batch yet (late
  money carried), T+1 in working days (`reconciliation.working_days`), and the bank's confirmation;
* `complaints` — a citizen's complaint about a payment, linked to its discrepancies;
* `cash` — till closings against counter payments, per branch and day;

with `channel_codes` (parsing `ONLINE:<gateway>`, `PARTNER:<code>`) and `staff` (who may work the
workbench) under them. Callers use the names below (`from reconciliation import services`); a test that
patches a seam (`runs._after_batch`, `settlement._after_biller`) patches the module that holds it."""

from reconciliation.services.cash import reconcile_cash, reconcile_cash_day
from reconciliation.services.channel_codes import CHANNEL_PREFIXES, ChannelCode, parse_channel_code
from reconciliation.services.complaints import (
    assign_complaint,
    complaint_notice,
    escalate_complaint,
    raise_complaint,
    resolve_complaint,
    send_notice,
)
from reconciliation.services.discrepancies import (
    allowed_resolutions,
    approve_write_off,
    assign_discrepancy,
    reject_write_off,
    resolve_discrepancy,
    write_off_amount,
)
from reconciliation.services.disputed_debits import (
    refund_disputed_trade,
    resolve_disputed_debit,
    resolve_disputed_debits,
)
from reconciliation.services.runs import LINE_BATCH_SIZE, reconcile_file, run_reconciliation
from reconciliation.services.settlement import (
    build_settlement,
    check_day_closed,
    check_unsettled_money,
    days_due,
    import_settlement_confirmation,
    settle_day,
    settleable_items,
    settleable_payments,
)
from reconciliation.services.staff import is_recon_staff
from reconciliation.services.statements import ImportResult, import_statement

__all__ = [
    "CHANNEL_PREFIXES",
    "LINE_BATCH_SIZE",
    "ChannelCode",
    "ImportResult",
    "allowed_resolutions",
    "approve_write_off",
    "assign_complaint",
    "assign_discrepancy",
    "build_settlement",
    "check_day_closed",
    "check_unsettled_money",
    "complaint_notice",
    "days_due",
    "escalate_complaint",
    "import_settlement_confirmation",
    "import_statement",
    "is_recon_staff",
    "parse_channel_code",
    "raise_complaint",
    "reconcile_cash",
    "reconcile_cash_day",
    "reconcile_file",
    "refund_disputed_trade",
    "reject_write_off",
    "resolve_complaint",
    "resolve_discrepancy",
    "resolve_disputed_debit",
    "resolve_disputed_debits",
    "run_reconciliation",
    "send_notice",
    "settle_day",
    "settleable_items",
    "settleable_payments",
    "write_off_amount",
]
