"""The double-entry ledger. Journal entries are written here, and by `billing.posting` for payments and
their reversals.

Every movement of money is one balanced entry of signed lines (debit positive, credit negative). Lines are
never updated or deleted; PostgreSQL triggers refuse it, and check after each insert statement that
every entry it touched sums to zero.
"""

import datetime
from collections.abc import Sequence
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from billing import outbox
from billing.choices import Channel, EntryKind, LedgerAccountKind
from billing.models import Biller, JournalEntry, JournalLine, LedgerAccount, Payment
from billing.money import CENT, ZERO
from billing.plain_sql import columns, model_from_row


class UnbalancedEntry(ValueError):
    """A programming error: the lines of an entry must sum to zero."""


# The agents' float transfers arrive in CLEARING:AGENT (the float bank account) before they are credited to
# an agent's float; an agent's payments are collected from its float (`agent_float_account`).
CLEARING_CODES = {
    Channel.ONLINE: "CLEARING:ONLINE",
    Channel.PARTNER: "CLEARING:PARTNER",
    Channel.AGENT: "CLEARING:AGENT",
}
FEE_INCOME_CODE = "FEES"
SETTLEMENT_CODE = "SETTLEMENT"


def payable_account(biller: Biller) -> LedgerAccount:
    account, _ = LedgerAccount.objects.get_or_create(
        code=f"PAYABLE:{biller.code}",
        defaults={"name": f"应付 {biller.name}", "kind": LedgerAccountKind.BILLER_PAYABLE, "biller": biller},
    )
    return account


def late_fee_account(biller: Biller) -> LedgerAccount:
    """The biller's late fees (issue 17, item 2): owed to it like its principal, but kept apart."""
    account, _ = LedgerAccount.objects.get_or_create(
        code=f"LATEFEE:{biller.code}",
        defaults={
            "name": f"应付滞纳金 {biller.name}",
            "kind": LedgerAccountKind.LATE_FEE_PAYABLE,
            "biller": biller,
        },
    )
    return account


def collection_share_account(share, *, biller: Biller) -> LedgerAccount:
    """What the platform owes a biller's co-beneficiary (issue 17, item 4): PAYABLE:<biller>:<code>."""
    account, _ = LedgerAccount.objects.get_or_create(
        code=f"PAYABLE:{biller.code}:{share.code}",
        defaults={
            "name": f"应付 {biller.name} · {share.name}"[:120],
            "kind": LedgerAccountKind.BILLER_PAYABLE,
            "biller": biller,
        },
    )
    return account


def collection_account(*, channel: str, branch=None) -> LedgerAccount:
    """Where a channel's money sits until settlement: a clearing account, or the branch's cash."""
    if channel == Channel.COUNTER:
        account, _ = LedgerAccount.objects.get_or_create(
            code=f"CASH:{branch.code}",
            defaults={
                "name": f"现金 {branch.name}",
                "kind": LedgerAccountKind.CASH_IN_TILL,
                "branch": branch,
            },
        )
        return account
    account, _ = LedgerAccount.objects.get_or_create(
        code=CLEARING_CODES[channel],
        defaults={"name": CLEARING_CODES[channel], "kind": LedgerAccountKind.CHANNEL_CLEARING},
    )
    return account


def agent_float_code(agent_code: str) -> str:
    return f"AGENT_FLOAT:{agent_code}"


def agent_float_account(*, code: str, name: str) -> LedgerAccount:
    """An agent's prefunded float (issue 18, item 4): what the platform owes the agent, a credit balance.
    A top-up credits it, each payment the agent takes debits it."""
    account, _ = LedgerAccount.objects.get_or_create(
        code=agent_float_code(code),
        defaults={"name": f"代理点备付金 {name}", "kind": LedgerAccountKind.AGENT_FLOAT},
    )
    return account


_ACCOUNTS_BY_CODE_SQL = (
    f"SELECT {columns(LedgerAccount, 'l')} FROM billing_ledgeraccount l WHERE l.code IN (%s, %s)"
)


def collection_account_code(*, channel: str, branch) -> str:
    """The code of the account a channel's payments are collected into (`collection_account`'s)."""
    return f"CASH:{branch.code}" if channel == Channel.COUNTER else CLEARING_CODES[channel]


def payment_accounts(
    *, channel: str, branch, biller: Biller, collection: LedgerAccount | None = None
) -> tuple[LedgerAccount, LedgerAccount]:
    """The (debit, credit) accounts of a payment, in one plain query: this runs for every payment.
    `collection` is the channel's own account when it holds money per outlet (an agent's float)."""
    if collection is not None:
        return collection, payable_account(biller)
    collection_code = collection_account_code(channel=channel, branch=branch)
    payable_code = f"PAYABLE:{biller.code}"
    with connection.cursor() as cursor:
        cursor.execute(_ACCOUNTS_BY_CODE_SQL, [collection_code, payable_code])
        found = {
            account.code: account for account in (model_from_row(LedgerAccount, row)[0] for row in cursor)
        }
    collection = found.get(collection_code) or collection_account(channel=channel, branch=branch)
    payable = found.get(payable_code) or payable_account(biller)
    return collection, payable


def check_balanced(lines: Sequence[tuple[LedgerAccount, Decimal]]) -> None:
    """Every writer of journal lines calls this first; the database checks again at commit."""
    if len(lines) < 2:
        raise UnbalancedEntry("a journal entry needs at least two lines")
    for _account, amount in lines:
        if amount == ZERO or amount != amount.quantize(CENT):
            raise UnbalancedEntry(f"line amount {amount!r} must be non-zero with two decimals")
    total = sum((amount for _account, amount in lines), ZERO)
    if total != ZERO:
        raise UnbalancedEntry(f"lines sum to {total}, not zero")


def post_entry(
    *,
    kind: str,
    lines: Sequence[tuple[LedgerAccount, Decimal]],
    business_date: datetime.date,
    payment: Payment | None = None,
    reverses: JournalEntry | None = None,
    memo: str = "",
    actor=None,
) -> JournalEntry:
    """Write one balanced entry. Callers hold the transaction; this refuses anything unbalanced."""
    check_balanced(lines)
    entry = JournalEntry.objects.create(
        kind=kind,
        payment=payment,
        reverses=reverses,
        memo=memo[:200],
        business_date=business_date,
        created_at=timezone.now(),
        created_by=actor,
    )
    JournalLine.objects.bulk_create(
        [JournalLine(entry=entry, account=account, amount=amount) for account, amount in lines]
    )
    return entry


# Reconciliation and settlement (reconciliation app): the two entries it writes besides payments.
WRITE_OFF_CODE = "WRITEOFF:RECON"


def _named_account(code: str, name: str, kind: str) -> LedgerAccount:
    account, _ = LedgerAccount.objects.get_or_create(code=code, defaults={"name": name, "kind": kind})
    return account


def post_settlement_entry(
    *,
    biller: Biller,
    gross: Decimal,
    fees: Decimal,
    business_date: datetime.date,
    memo: str,
    actor=None,
    late_fees: Decimal = ZERO,
    shares: Sequence[tuple[LedgerAccount, Decimal]] = (),
) -> JournalEntry | None:
    """Pay a biller what it is owed: debit its payable by what was collected (its late-fee account by the
    part of it that was late fees, each co-beneficiary's payable by its `shares`), credit the settlement
    bank account by the net and fee income by the fees (all negative when reversals outweigh payments).
    None when nothing moves (a payment and a reversal of the same amount, no fees)."""
    if not gross and not fees:
        return None
    principal = gross - late_fees - sum((amount for _account, amount in shares), ZERO)
    lines = [(payable_account(biller), principal)] if principal else []
    if late_fees:
        lines.append((late_fee_account(biller), late_fees))
    lines += [(account, amount) for account, amount in shares if amount]
    if gross - fees:
        lines.append(
            (_named_account(SETTLEMENT_CODE, "结算银行账户", LedgerAccountKind.SETTLEMENT), -(gross - fees))
        )
    if fees:
        lines.append((_named_account(FEE_INCOME_CODE, "手续费收入", LedgerAccountKind.FEE_INCOME), -fees))
    entry = post_entry(
        kind=EntryKind.SETTLEMENT, lines=lines, business_date=business_date, memo=memo, actor=actor
    )
    # The settlement's outbox event, with its entry (keep this one call wherever settlement posts).
    outbox.settlement_event(
        biller=biller, gross=gross, fees=fees, business_date=business_date, memo=memo, entry_id=entry.pk
    )
    return entry


def post_write_off_entry(
    *, channel: str, amount: Decimal, business_date: datetime.date, memo: str, actor=None, branch=None
) -> JournalEntry:
    """Bring a channel's clearing account (a branch's cash for the counter) to what the channel says
    (`amount` signed, debit positive), the difference written off against the platform's income."""
    lines = [
        (collection_account(channel=channel, branch=branch), amount),
        (_named_account(WRITE_OFF_CODE, "对账差异核销", LedgerAccountKind.FEE_INCOME), -amount),
    ]
    entry = post_entry(
        kind=EntryKind.ADJUSTMENT, lines=lines, business_date=business_date, memo=memo, actor=actor
    )
    outbox.write_off_event(
        channel=channel, amount=amount, business_date=business_date, memo=memo, entry_id=entry.pk
    )
    return entry
