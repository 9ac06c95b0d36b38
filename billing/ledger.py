"""The double-entry ledger. Journal entries are written here, and by `billing.posting` for payments and
their reversals.

Every movement of money is one balanced entry of signed lines (debit positive, credit negative). Lines are
never updated or deleted; PostgreSQL triggers refuse it, and check after each insert statement that
every entry it touched sums to zero.
"""

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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


def _accounts_of(billers: Iterable[Biller], *, prefix: str, name: str, kind: str) -> dict[int, LedgerAccount]:
    """`payable_account` (or `late_fee_account`) of many billers at once, by biller id: one query for
    those that exist, one insert for the missing."""
    codes = {f"{prefix}{biller.code}": biller for biller in billers}
    found = {account.code: account for account in LedgerAccount.objects.filter(code__in=codes)}
    missing = [
        LedgerAccount(code=code, name=f"{name} {biller.name}", kind=kind, biller=biller)
        for code, biller in codes.items()
        if code not in found
    ]
    if missing:
        LedgerAccount.objects.bulk_create(missing, ignore_conflicts=True)  # another run made one meanwhile
        found.update(
            (account.code, account)
            for account in LedgerAccount.objects.filter(code__in=[account.code for account in missing])
        )
    return {biller.pk: found[code] for code, biller in codes.items()}


def payable_accounts(billers: Iterable[Biller]) -> dict[int, LedgerAccount]:
    return _accounts_of(billers, prefix="PAYABLE:", name="应付", kind=LedgerAccountKind.BILLER_PAYABLE)


def late_fee_accounts_of(billers: Iterable[Biller]) -> dict[int, LedgerAccount]:
    return _accounts_of(
        billers, prefix="LATEFEE:", name="应付滞纳金", kind=LedgerAccountKind.LATE_FEE_PAYABLE
    )


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


@dataclass(frozen=True)
class SettlementPosting:
    """What one biller's settlement entry moves (`post_settlement_entries`): `gross` collected, `fees` kept
    by the platform, the part of `gross` that was late fees, and each co-beneficiary's `shares`."""

    biller: Biller
    gross: Decimal
    fees: Decimal
    business_date: datetime.date
    memo: str
    late_fees: Decimal = ZERO
    shares: Sequence[tuple[LedgerAccount, Decimal]] = ()


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
    posting = SettlementPosting(
        biller=biller,
        gross=gross,
        fees=fees,
        business_date=business_date,
        memo=memo,
        late_fees=late_fees,
        shares=shares,
    )
    return post_settlement_entries([posting], actor=actor)[0]


def post_settlement_entries(
    postings: Sequence[SettlementPosting], *, actor=None
) -> list[JournalEntry | None]:
    """`post_settlement_entry` for many billers at once (a day's settlement): the same entries, lines and
    outbox events, written with one statement per table, the lines of every entry in one INSERT (the
    balance trigger checks each entry of it). One result per posting, in order (None where nothing moves)."""
    moving = [posting for posting in postings if posting.gross or posting.fees]
    if not moving:
        return [None] * len(postings)
    payables = payable_accounts([p.biller for p in moving if p.gross - p.late_fees - _shared(p)])
    late_fee_accounts = late_fee_accounts_of([p.biller for p in moving if p.late_fees])
    settlement = fee_income = None
    if any(posting.gross - posting.fees for posting in moving):
        settlement = _named_account(SETTLEMENT_CODE, "结算银行账户", LedgerAccountKind.SETTLEMENT)
    if any(posting.fees for posting in moving):
        fee_income = _named_account(FEE_INCOME_CODE, "手续费收入", LedgerAccountKind.FEE_INCOME)
    lines_of = []
    for posting in moving:
        principal = posting.gross - posting.late_fees - _shared(posting)
        lines = [(payables[posting.biller.pk], principal)] if principal else []
        if posting.late_fees:
            lines.append((late_fee_accounts[posting.biller.pk], posting.late_fees))
        lines += [(account, amount) for account, amount in posting.shares if amount]
        if posting.gross - posting.fees:
            lines.append((settlement, -(posting.gross - posting.fees)))
        if posting.fees:
            lines.append((fee_income, -posting.fees))
        check_balanced(lines)
        lines_of.append(lines)
    now = timezone.now()
    entries = JournalEntry.objects.bulk_create(
        [
            JournalEntry(
                kind=EntryKind.SETTLEMENT,
                memo=posting.memo[:200],
                business_date=posting.business_date,
                created_at=now,
                created_by=actor,
            )
            for posting in moving
        ]
    )
    JournalLine.objects.bulk_create(
        [
            JournalLine(entry=entry, account=account, amount=amount)
            for entry, lines in zip(entries, lines_of, strict=True)
            for account, amount in lines
        ]
    )
    # The settlement's outbox events, with their entries (keep this one call wherever settlement posts).
    outbox.settlement_events(
        [
            {
                "biller": posting.biller,
                "gross": posting.gross,
                "fees": posting.fees,
                "business_date": posting.business_date,
                "memo": posting.memo,
                "entry_id": entry.pk,
            }
            for posting, entry in zip(moving, entries, strict=True)
        ]
    )
    posted = dict(zip((id(posting) for posting in moving), entries, strict=True))
    return [posted.get(id(posting)) for posting in postings]


def _shared(posting: SettlementPosting) -> Decimal:
    return sum((amount for _account, amount in posting.shares), ZERO)


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
