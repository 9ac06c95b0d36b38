"""The sandbox biller's own "system": what a power grid's or a hospital's billing system would hold.

Its bills are made up from the account number (the same number always has the same bill), and a few
numbers play the bad answers a real system can give, so the demo and the tests can walk every case over
real HTTP. By the account number's last four digits:

    9001  answers too late (after the biller's timeout)      9004  HTTP 503 (the system is down)
    9002  signs its answer with the wrong key                 9005  declines the payment (validate)
    9003  answers a body that is not the protocol's           9006  the amount changed since the lookup
    9404  has no such account

Whole billers can be switched down (every call answers 503) and an account's amount changed in its
"system", through the functions below (kept in the cache: the sandbox's state is disposable).
"""

import datetime
import hashlib
from decimal import Decimal

from django.core.cache import cache
from django.utils import timezone

SLOW, BAD_SIGNATURE, MALFORMED, DOWN, DECLINES, AMOUNT_CHANGES = (
    "9001",
    "9002",
    "9003",
    "9004",
    "9005",
    "9006",
)
UNKNOWN = "9404"
_TTL = 7 * 24 * 3600


def behaviour(account_no: str) -> str:
    return account_no[-4:]


def _key(*parts: str) -> str:
    return "sandbox_biller:" + ":".join(parts)


def set_down(biller_code: str, down: bool) -> None:
    if down:
        cache.set(_key(biller_code, "down"), True, _TTL)
    else:
        cache.delete(_key(biller_code, "down"))


def is_down(biller_code: str) -> bool:
    return bool(cache.get(_key(biller_code, "down")))


def set_amount(biller_code: str, account_no: str, amount: Decimal) -> None:
    """The biller's system changes the account's current bill (a meter re-read, a corrected charge)."""
    cache.set(_key(biller_code, account_no, "amount"), str(amount), _TTL)


def _made_up_amount(biller_code: str, account_no: str) -> Decimal:
    digest = int(hashlib.sha256(f"{biller_code}:{account_no}".encode()).hexdigest()[:8], 16)
    return Decimal(60 + digest % 340) + Decimal(digest % 100) / 100


def current_amount(biller_code: str, account_no: str) -> Decimal:
    stored = cache.get(_key(biller_code, account_no, "amount"))
    return Decimal(stored) if stored else _made_up_amount(biller_code, account_no)


def account(biller_code: str, account_no: str, *, fetches: bool = True) -> dict | None:
    """The account as its system answers POST /bills; None when it has no such account."""
    if behaviour(account_no) == UNKNOWN:
        return None
    amount = current_amount(biller_code, account_no)
    if behaviour(account_no) == AMOUNT_CHANGES and fetches:
        # Every fetch sees the bill ¥10 higher: the payment's own fetch differs from the lookup's.
        seen = cache.get_or_set(_key(biller_code, account_no, "fetches"), 0, _TTL)
        cache.incr(_key(biller_code, account_no, "fetches"))
        amount += 10 * seen
    today = timezone.localdate()
    return {
        "account_no": account_no,
        "holder_name": "沙箱用户" + account_no[-2:],
        "bills": [
            {
                "period": f"{today:%Y-%m}",
                "amount_due": str(amount),
                "due_date": (today + datetime.timedelta(days=20)).isoformat(),
                "reference": f"SB{account_no[-8:]}{today:%y%m}",
                "description": "沙箱账单 / Sandbox bill",
            }
        ],
    }


def validation(payment_key: str, account_no: str, bills: list[dict]) -> dict:
    """The answer to POST /validate: the same for the same payment key, however often it is asked."""
    digest = hashlib.sha256(payment_key.encode()).hexdigest()
    if behaviour(account_no) == UNKNOWN:
        return {"payment_key": payment_key, "accepted": False, "code": "account_unknown"}
    if behaviour(account_no) == DECLINES:
        return {
            "payment_key": payment_key,
            "accepted": False,
            "code": "declined",
            "reason": "该账户已销户 / The account was closed.",
        }
    if behaviour(account_no) == AMOUNT_CHANGES:
        asked = sum((Decimal(str(bill.get("amount_due", "0"))) for bill in bills), Decimal("0"))
        return {
            "payment_key": payment_key,
            "accepted": False,
            "code": "amount_changed",
            "amount_due": str(asked + 10),
        }
    return {
        "payment_key": payment_key,
        "accepted": True,
        "biller_ref": f"SBV{digest[:12].upper()}",
        "fiscal_receipt_no": f"FP{int(digest[12:24], 16) % 10**12:012d}",
    }
