#!/usr/bin/env python3
"""Hosted checkout for a partner (a government service portal, an app), on the Python standard library only.

Build the link to send your user to (it is valid for 10 minutes and opens once):

    python hosted_checkout.py link --base-url https://pay.example.cn --key-id AK... --secret sk_... \
        --order-id GOV-2026-000123 --biller WATER01 --account 31005678 --amount 180.00 \
        --return-url https://gov.example.cn/billpay/return

Check what your user's browser brings back to the return URL (or a notification's signature):

    python hosted_checkout.py verify --secret sk_... --url 'https://gov.example.cn/billpay/return?...'
    python hosted_checkout.py verify-notification --secret sk_... --timestamp 1764... \
        --signature 3f... --body-file notification.json

Copy `signed_link` and `verify_return` into your integration: that is all a link needs.
"""

import argparse
import hashlib
import hmac
import secrets
import sys
import time
import urllib.parse

PREFIX = "BILLPAY-CHECKOUT"
MAX_AGE_SECONDS = 600


def canonical(params: dict[str, str]) -> str:
    """Every parameter but `sig`, sorted by name, percent-encoded (RFC 3986, UTF-8), joined by "&"."""
    return "&".join(
        f"{urllib.parse.quote(name, safe='')}={urllib.parse.quote(value, safe='')}"
        for name, value in sorted(params.items())
        if name != "sig"
    )


def signature(secret: str, params: dict[str, str]) -> str:
    message = f"{PREFIX}\n{canonical(params)}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_link(
    base_url: str,
    *,
    key_id: str,
    secret: str,
    order_id: str,
    biller: str,
    account: str,
    amount: str,
    return_url: str,
    period: str = "",
    language: str = "",
) -> str:
    params = {
        "key": key_id,
        "order_id": order_id,
        "biller": biller,
        "account": account,
        "amount": amount,
        "return_url": return_url,
        "ts": str(int(time.time())),
        "nonce": secrets.token_urlsafe(16),  # new for every link
    }
    if period:
        params["period"] = period
    if language:
        params["lang"] = language
    params["sig"] = signature(secret, params)
    return f"{base_url.rstrip('/')}/hosted/?{urllib.parse.urlencode(params)}"


def verify_return(url: str, *, secret: str, max_age: int = MAX_AGE_SECONDS) -> dict[str, str]:
    """The return's parameters once its signature holds and it is fresh; ValueError otherwise. Take the
    status from here (or, better, from the signed notification), never from anything unsigned."""
    pairs = urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query, keep_blank_values=True)
    params = dict(pairs)
    if len(params) != len(pairs):
        raise ValueError("a parameter is repeated")
    if not hmac.compare_digest(signature(secret, params), params.get("sig", "")):
        raise ValueError("the signature does not match")
    if abs(int(time.time()) - int(params.get("ts", "0"))) > max_age:
        raise ValueError("the return is too old")
    return params


def verify_notification(*, secret: str, timestamp: str, signature_hex: str, body: bytes) -> bool:
    """A `checkout.paid` notification is signed like every webhook: HMAC(secret, timestamp + "." + body)."""
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature_hex)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    link = commands.add_parser("link", help="print a signed hosted checkout link")
    for name in ("base-url", "key-id", "secret", "order-id", "biller", "account", "amount", "return-url"):
        link.add_argument(f"--{name}", required=True)
    link.add_argument("--period", default="")
    link.add_argument("--lang", default="")
    check = commands.add_parser("verify", help="verify a return URL's signature")
    check.add_argument("--secret", required=True)
    check.add_argument("--url", required=True)
    note = commands.add_parser("verify-notification", help="verify a notification's signature")
    for name in ("secret", "timestamp", "signature", "body-file"):
        note.add_argument(f"--{name}", required=True)
    args = parser.parse_args(argv)

    if args.command == "link":
        print(
            signed_link(
                args.base_url,
                key_id=args.key_id,
                secret=args.secret,
                order_id=args.order_id,
                biller=args.biller,
                account=args.account,
                amount=args.amount,
                return_url=args.return_url,
                period=args.period,
                language=args.lang,
            )
        )
        return 0
    if args.command == "verify":
        try:
            params = verify_return(args.url, secret=args.secret)
        except ValueError as error:
            print(f"REFUSED: {error}", file=sys.stderr)
            return 1
        print(f"verified: order {params['order_id']} is {params['status']} {params.get('payment_ref', '')}")
        return 0
    with open(args.body_file, "rb") as body:
        ok = verify_notification(
            secret=args.secret, timestamp=args.timestamp, signature_hex=args.signature, body=body.read()
        )
    print("verified" if ok else "REFUSED: the signature does not match")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
