"""The sandbox bank's signature: HMAC-SHA256 over the sorted `key=value` pairs joined by `&`, without the
`sign` field and empty values — Alipay's canonical string, with a shared key instead of RSA."""

import hashlib
import hmac


def canonical(params: dict[str, str]) -> str:
    return "&".join(
        f"{key}={params[key]}"
        for key in sorted(params)
        if key not in ("sign", "sign_type") and params[key] != ""
    )


def sign(params: dict[str, str], key: str) -> str:
    return hmac.new(key.encode(), canonical(params).encode(), hashlib.sha256).hexdigest()


def signed(params: dict[str, str], key: str) -> dict[str, str]:
    params = {name: str(value) for name, value in params.items()}
    return {**params, "sign_type": "HMAC-SHA256", "sign": sign(params, key)}


def verify(params: dict[str, str], key: str) -> bool:
    """True only for a signature made with `key`; with no key configured nothing verifies (an empty HMAC key
    is one anybody can sign with)."""
    given = params.get("sign", "")
    return bool(key) and bool(given) and hmac.compare_digest(given, sign(params, key))
