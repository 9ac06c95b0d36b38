"""The fixed taxonomy of disputes and complaints (in the manner of BBPS's D-codes): every channel — the
portal, the counter, the partner API, the biller API — speaks these codes and no others.

Each reason has a code that never changes meaning, its label in both languages (gettext; the Chinese is in
disputes/locale), its category (a transaction dispute is about money moved; a complaint about a service),
who answers it, and its response-time rule in working days of China's calendar (disputes.deadlines). A
reason `auto_debit` is the one reconciliation settles on its own by T+1: money taken at the channel for
which the platform holds no payment (reconciliation.services.disputed_debits)."""

from dataclasses import dataclass

from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class Category(models.TextChoices):
    TRANSACTION = "transaction", _("Transaction dispute")
    COMPLAINT = "complaint", _("Service complaint")


class Answerer(models.TextChoices):
    PLATFORM = "platform", _("The platform")
    BILLER = "biller", _("The biller")
    CHANNEL = "channel", _("The channel that took the money")


@dataclass(frozen=True)
class Reason:
    code: str
    label: Promise
    category: str
    answerer: str
    working_days: int
    needs_payment: bool = True  # raised on a payment the platform holds (its receipt number)
    auto_debit: bool = False  # money taken at the channel, no payment: settled by reconciliation by T+1


REASONS: tuple[Reason, ...] = (
    Reason(
        "D11",
        _("Money taken at the channel, but no payment was made"),
        Category.TRANSACTION,
        Answerer.PLATFORM,
        1,
        needs_payment=False,
        auto_debit=True,
    ),
    Reason("D12", _("Paid, but the bill still shows as due"), Category.TRANSACTION, Answerer.BILLER, 3),
    Reason("D13", _("Money taken more than once"), Category.TRANSACTION, Answerer.PLATFORM, 3),
    Reason("D14", _("Paid to the wrong account"), Category.TRANSACTION, Answerer.BILLER, 5),
    Reason("D15", _("Wrong amount taken"), Category.TRANSACTION, Answerer.PLATFORM, 3),
    Reason("D16", _("Refund not received"), Category.TRANSACTION, Answerer.CHANNEL, 5),
    Reason("D17", _("Receipt not received or wrong"), Category.TRANSACTION, Answerer.PLATFORM, 2),
    Reason(
        "D21", _("The bill's amount is wrong"), Category.COMPLAINT, Answerer.BILLER, 7, needs_payment=False
    ),
    Reason("D22", _("Service cut off although paid"), Category.COMPLAINT, Answerer.BILLER, 1),
    Reason("D23", _("Charged a fee that was not shown"), Category.COMPLAINT, Answerer.CHANNEL, 5),
    Reason(
        "D24",
        _("Staff at the counter or agent were unhelpful"),
        Category.COMPLAINT,
        Answerer.CHANNEL,
        5,
        needs_payment=False,
    ),
    Reason(
        "D25",
        _("The partner's app or website failed"),
        Category.COMPLAINT,
        Answerer.CHANNEL,
        5,
        needs_payment=False,
    ),
    Reason(
        "D32",
        _("Other, described in the details"),
        Category.COMPLAINT,
        Answerer.PLATFORM,
        5,
        needs_payment=False,
    ),
)

BY_CODE: dict[str, Reason] = {reason.code: reason for reason in REASONS}
CHOICES: list[tuple[str, str]] = [(reason.code, reason.label) for reason in REASONS]


def reason(code: str) -> Reason | None:
    return BY_CODE.get(code)


def answered_by(answerer: str) -> list[str]:
    return [r.code for r in REASONS if r.answerer == answerer]


def auto_debit_codes() -> list[str]:
    return [r.code for r in REASONS if r.auto_debit]
