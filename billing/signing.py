"""Request signing, the one implementation both APIs, the biller webhooks and the calls to billers' systems
(billing.presentment) use.

A signed request carries four headers::

    X-BillPay-Key:        the key id (AK…)
    X-BillPay-Timestamp:  seconds since 1970-01-01 UTC
    X-BillPay-Nonce:      16 to 64 characters [A-Za-z0-9_-], new for every request
    X-BillPay-Signature:  lowercase hex HMAC-SHA256(secret, string to sign)

and the string to sign is these seven lines joined by "\\n" (no trailing newline)::

    BILLPAY-HMAC-SHA256
    METHOD                (upper case)
    /path/of/the/request  (percent-decoded, as the server routes it)
    query string          (exactly as sent, without "?"; empty when none)
    timestamp
    nonce
    hex SHA-256 of the body bytes (of b"" when there is no body)
"""

import hashlib
import hmac
import re
from urllib.parse import unquote

ALGORITHM = "BILLPAY-HMAC-SHA256"
KEY_HEADER = "X-BillPay-Key"
TIMESTAMP_HEADER = "X-BillPay-Timestamp"
NONCE_HEADER = "X-BillPay-Nonce"
SIGNATURE_HEADER = "X-BillPay-Signature"
HEADERS = (KEY_HEADER, TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER)
NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
TIMESTAMP_RE = re.compile(r"^\d{1,12}$")


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body or b"").hexdigest()


def string_to_sign(*, method: str, path: str, query: str, timestamp: str, nonce: str, body: bytes) -> str:
    return "\n".join(
        [ALGORITHM, method.upper(), unquote(path), query or "", timestamp, nonce, body_hash(body)]
    )


def sign(secret: str, **parts) -> str:
    return hmac.new(secret.encode(), string_to_sign(**parts).encode(), hashlib.sha256).hexdigest()


def signature_matches(secret: str, signature: str, **parts) -> bool:
    return hmac.compare_digest(sign(secret, **parts), (signature or "").strip().lower())


def webhook_signature(secret: str, *, timestamp: str, body: bytes) -> str:
    """Webhooks are signed over "timestamp.body" (the scheme Stripe and GitHub made familiar)."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
