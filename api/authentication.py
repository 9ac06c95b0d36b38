"""Who is calling: a signed request's key, checked for freshness, replay, owner status and address."""

import ipaddress
import time
from dataclasses import dataclass, replace

from django.conf import settings
from django.http.request import HttpHeaders
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication

from api import credentials, signing
from api.choices import PartnerStatus
from api.exceptions import ApiError
from api.models import ApiCredential, BillerApiAccess, Partner
from config import local_cache, ratelimit
from config.client_ip import client_ip
from config.unavailable import SERVICE_ERRORS

PARTNER = "partner"
BILLER = "biller"
RATE_WINDOW_SECONDS = 60  # a caller's rate limit counts fixed one-minute windows


@dataclass
class ApiPrincipal:
    """The authenticated caller: a partner or a biller, through one of its credentials."""

    credential: ApiCredential
    partner: Partner | None = None
    biller_access: BillerApiAccess | None = None
    # This request's count in its caller's rate window, taken with its nonce (api.throttling reads it).
    rate_hit: ratelimit.Hit | None = None

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None

    @property
    def kind(self) -> str:
        return PARTNER if self.partner is not None else BILLER

    @property
    def owner(self) -> Partner | BillerApiAccess:
        return self.partner if self.partner is not None else self.biller_access

    @property
    def scope(self) -> str:
        """Keeps two callers' idempotency keys, nonces and rate counters apart."""
        if self.partner is not None:
            return f"partner:{self.partner.code}"
        return f"biller:{self.biller_access.biller.code}"

    @property
    def rate_limit(self) -> int:
        return self.owner.rate_limit_per_minute

    def __str__(self) -> str:
        return self.scope


def ip_allowed(ip: str, allowlist: str) -> bool:
    entries = [line.strip() for line in (allowlist or "").splitlines() if line.strip()]
    if not entries:
        return True
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for entry in entries:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def _load_credential(key_id: str) -> ApiCredential | None:
    """The credential with its owner, from this process's memory while nothing about them changed: a
    revoked or rotated key, a suspended partner, a changed allow-list or limit renews the version and every
    worker reads them again on its next request (config.local_cache)."""
    return local_cache.get(_credential_key(key_id), lambda: _read_credential(key_id))


def _credential_key(key_id: str) -> tuple:
    """Where a credential is kept in this process's memory (config.local_cache)."""
    return ("api-credential", key_id)


def _read_credential(key_id: str) -> ApiCredential | None:
    return (
        ApiCredential.objects.select_related("partner", "biller_access__biller").filter(key_id=key_id).first()
    )


def _check_signature(request, values: dict, credential: ApiCredential | None) -> None:
    """The key is known and usable, the timestamp fresh, the nonce well formed, the signature its secret's."""
    key_id = values[signing.KEY_HEADER]
    timestamp = values[signing.TIMESTAMP_HEADER]
    nonce = values[signing.NONCE_HEADER]
    if credential is None:
        raise ApiError("credential_unknown", key_id=key_id[:32])
    if not credential.usable_at(timezone.now()):
        raise ApiError("credential_expired", key_id=key_id)
    if not signing.TIMESTAMP_RE.fullmatch(timestamp):
        raise ApiError("timestamp_invalid")
    window = settings.API_SIGNATURE_MAX_SKEW_SECONDS
    skew = int(timestamp) - int(time.time())
    if abs(skew) > window:
        raise ApiError("timestamp_stale", skew=skew, window=window)
    if not signing.NONCE_RE.fullmatch(nonce):
        raise ApiError("nonce_invalid")
    if not signing.signature_matches(
        credentials.secret_for(credential),
        values[signing.SIGNATURE_HEADER],
        method=request.method,
        path=request.path,
        query=request.META.get("QUERY_STRING", ""),
        timestamp=timestamp,
        nonce=nonce,
        body=request.body,
    ):
        raise ApiError("signature_invalid")


def _principal(credential: ApiCredential) -> ApiPrincipal:
    return ApiPrincipal(
        credential=credential, partner=credential.partner, biller_access=credential.biller_access
    )


# Where the WSGI environ holds each signature header (what `request.headers.get(name)` looks up).
_META_KEYS = {name: HttpHeaders.to_wsgi_name(name) for name in signing.HEADERS}


def verify_signed_request(request) -> ApiPrincipal:
    """Check the signature headers of a Django request and say who sent it; raises `ApiError`."""
    meta = request.META  # as `request.headers` reads them, without building the whole mapping of headers
    values = {name: meta.get(key, "").strip() for name, key in _META_KEYS.items()}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise ApiError("signature_missing", headers=", ".join(missing))
    key_id = values[signing.KEY_HEADER][:32]
    # The credential as this process holds it, without reading the cache's version first: the version comes
    # back with the nonce below, in the same round trip, and a credential held under an older one is
    # checked again on what is current before anything is done for the request. A refusal is never made on
    # what the process held: a key issued or rotated since is looked up again first.
    credential, held = local_cache.get_held(_credential_key(key_id), lambda: _read_credential(key_id))
    try:
        _check_signature(request, values, credential)
    except ApiError:
        if held is None:
            raise
        credential, held = _load_credential(key_id), None
        _check_signature(request, values, credential)
    principal = _principal(credential)
    # Only a correctly signed request spends its nonce: a stranger cannot burn a partner's nonces. The
    # cache is Redis in production (SET NX), so two gunicorn workers never both accept one nonce; it is
    # kept for twice the window, after which the timestamp check refuses the request anyway. A fresh nonce
    # also counts the request in its caller's rate window (api.throttling), in the same round trip: so a
    # signed request refused below for its owner's status or address counts too, a replay never.
    # Redis away: the request is refused (503), never let through unchecked.
    window = settings.API_SIGNATURE_MAX_SKEW_SECONDS
    nonce_key = f"api:nonce:{credential.key_id}:{values[signing.NONCE_HEADER]}"
    try:
        spent = ratelimit.spend_hit_and_read(
            nonce_key,
            2 * window + 5,
            "api",
            principal.scope,
            limit=principal.rate_limit,
            window=RATE_WINDOW_SECONDS,
            read=local_cache.VERSION_KEY,
        )
    except SERVICE_ERRORS as error:
        raise ApiError("nonce_store_unavailable") from error
    if spent.value is not None:
        local_cache.seen(spent.value)
    principal.rate_hit = spent.hit
    if held is not None and spent.value != held:
        # Something cached changed since this process last looked: the request is checked again on the
        # current rows (a key revoked or rotated meanwhile is refused here, its nonce spent), and its hit,
        # counted under the limit held, is judged by the current one.
        credential = _load_credential(key_id)
        _check_signature(request, values, credential)
        principal = _principal(credential)
        if spent.hit is not None and principal.rate_limit:
            principal.rate_hit = replace(spent.hit, allowed=spent.hit.count <= principal.rate_limit)
    if not spent.fresh:
        raise ApiError("nonce_replayed")
    _check_owner(principal)
    allowlist = principal.owner.ip_allowlist
    if allowlist:  # without one every address is allowed (`ip_allowed`): the client's is not worked out
        ip = client_ip(request)
        if not ip_allowed(ip, allowlist):
            raise ApiError("ip_not_allowed", ip=ip)
    _touch(credential)
    return principal


def _check_owner(principal: ApiPrincipal) -> None:
    partner = principal.partner
    if partner is not None:
        if partner.status == PartnerStatus.SUSPENDED:
            raise ApiError(
                "partner_suspended",
                partner=partner.name,
                reason=partner.status_reason or partner.get_status_display(),
            )
        if partner.status != PartnerStatus.ACTIVE:
            raise ApiError("partner_closed", partner=partner.name)
        return
    access = principal.biller_access
    if not access.enabled:
        raise ApiError("biller_api_disabled", biller=access.biller.display_name)


def _touch(credential: ApiCredential) -> None:
    """Remember when a key was last used, at most once a minute per key (it shows in the admin, and a
    rotated key's last use tells when the old one can go)."""
    now = timezone.now()
    if credential.last_used_at is None or (now - credential.last_used_at).total_seconds() > 60:
        ApiCredential.objects.filter(pk=credential.pk).update(last_used_at=now)
        credential.last_used_at = now  # the cached instance: this process touches it once a minute


class SignedRequestAuthentication(BaseAuthentication):
    def authenticate(self, request):
        principal = verify_signed_request(request._request)
        return principal, principal.credential

    def authenticate_header(self, request):
        return signing.ALGORITHM
