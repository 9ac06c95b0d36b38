"""Pay links: the unguessable, signed, expiring `/pay/<token>/` printed as a QR code on a bill, a slip, a
prescription or a tuition notice. The token names one bill and nothing else; it cannot be forged or
enumerated, and it expires after `PAY_LINK_MAX_AGE_DAYS`."""

import datetime

from django.conf import settings
from django.core import signing

_SALT = "billpay.paylink.v1"


def pay_token(bill) -> str:
    """A signed, timestamped token for the bill (URL-safe)."""
    return signing.dumps({"b": bill.pk}, salt=_SALT, compress=True)


def pay_path(bill) -> str:
    """The site-relative pay link for the bill."""
    return f"/pay/{pay_token(bill)}/"


def bill_id_from_token(token: str) -> int | None:
    """The bill the token names, or None when it is forged, damaged or expired."""
    try:
        data = signing.loads(
            token, salt=_SALT, max_age=datetime.timedelta(days=settings.PAY_LINK_MAX_AGE_DAYS)
        )
    except signing.BadSignature:  # SignatureExpired is a BadSignature
        return None
    bill_id = data.get("b") if isinstance(data, dict) else None
    return bill_id if isinstance(bill_id, int) else None
