"""Request signing of the open APIs and the biller webhooks. The one implementation lives in
billing/signing.py: the platform signs its calls to billers' systems with it too (docs/biller-protocol.md)."""

from billing.signing import (  # noqa: F401 - this module's names, as before the move
    ALGORITHM,
    HEADERS,
    KEY_HEADER,
    NONCE_HEADER,
    NONCE_RE,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    TIMESTAMP_RE,
    body_hash,
    sign,
    signature_matches,
    string_to_sign,
    webhook_signature,
)
