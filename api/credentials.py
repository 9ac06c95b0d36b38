"""API secrets: derived, never stored.

An HMAC secret must be recoverable to check a signature, so it cannot be stored as a one-way hash. Rather
than keep it encrypted, each credential row keeps a random 256-bit `seed` and the secret is
HMAC-SHA256(settings.API_CREDENTIAL_KEY, "api-secret:" + key id + ":" + seed). A copy of the database
without the settings key reveals no secret, and the settings key alone reveals none either. The
admin shows a new secret once; after that the platform only ever recomputes it to verify requests.
Changing API_CREDENTIAL_KEY therefore changes every secret (rotate keys instead).
"""

import base64
import functools
import hashlib
import hmac

from django.conf import settings


def _derive(purpose: str, *parts: str) -> str:
    return _derived(settings.API_CREDENTIAL_KEY, purpose, *parts)


@functools.lru_cache(maxsize=1024)
def _derived(key: str, purpose: str, *parts: str) -> str:
    """Kept per process (every signed request recomputed its key's secret): what it keeps, the process can
    compute anyway from the settings key and the seeds it reads. Keyed by the settings key too."""
    message = ":".join((purpose, *parts)).encode()
    digest = hmac.new(key.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def secret_for(credential) -> str:
    return "sk_" + _derive("api-secret", credential.key_id, credential.seed)


def webhook_secret_for(access) -> str:
    return "whsec_" + _derive("webhook-secret", str(access.biller_id), access.webhook_seed)


def partner_webhook_secret_for(partner) -> str:
    return "whsec_" + _derive("partner-webhook-secret", partner.code, partner.webhook_seed)


def delivery_secret(delivery) -> str:
    """The secret that signs a delivery: its biller's webhook secret, the partner's key that signed a hosted
    checkout's link (api.checkout), or the partner's webhook secret."""
    if delivery.biller_access_id:
        return webhook_secret_for(delivery.biller_access)
    if delivery.credential_id:
        return secret_for(delivery.credential)
    return partner_webhook_secret_for(delivery.partner)
