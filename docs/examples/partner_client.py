#!/usr/bin/env python3
"""A working client of the BillPay partner API, on the Python standard library only.

    python partner_client.py --base-url http://127.0.0.1:8000 --key-id AK... --secret sk_... \
        --biller BJ-WATER --account 310012345

It lists the billers it may serve, looks up the account's open bills, pays them with an Idempotency-Key
(retrying a timed-out request with the same key is safe), reads the payment's status and downloads
today's statement. Copy `PartnerClient` into your integration; the signing is in `_headers`.
"""

import argparse
import datetime
import hashlib
import hmac
import json
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, body: dict):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.body = status, code, message, body


class PartnerClient:
    def __init__(
        self, base_url: str, key_id: str, secret: str, *, language: str = "zh-hans", timeout: float = 15
    ):
        self.base_url = base_url.rstrip("/")
        self.key_id = key_id
        self.secret = secret
        self.language = language
        self.timeout = timeout

    # --- signing: the string to sign is seven lines (docs/partner-api.md) ---
    def _headers(self, method: str, path: str, query: str, body: bytes) -> dict:
        timestamp = str(int(time.time()))
        nonce = secrets.token_hex(16)
        string_to_sign = "\n".join(
            [
                "BILLPAY-HMAC-SHA256",
                method,
                urllib.parse.unquote(path),
                query,
                timestamp,
                nonce,
                hashlib.sha256(body).hexdigest(),
            ]
        )
        signature = hmac.new(self.secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()
        return {
            "X-BillPay-Key": self.key_id,
            "X-BillPay-Timestamp": timestamp,
            "X-BillPay-Nonce": nonce,
            "X-BillPay-Signature": signature,
            "Accept-Language": self.language,
        }

    def request(self, method: str, path: str, *, params=None, body=None, idempotency_key=None, retries=3):
        """Send a signed request; on a network error or a 5xx, retry (a new signature and nonce each time,
        the same Idempotency-Key). Returns the parsed JSON, or the raw bytes of a CSV."""
        query = urllib.parse.urlencode(params or {})
        data = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
        for attempt in range(retries + 1):
            headers = self._headers(method, path, query, data)
            if body is not None:
                headers["Content-Type"] = "application/json"
            if idempotency_key:
                headers["Idempotency-Key"] = idempotency_key
            url = self.base_url + path + (f"?{query}" if query else "")
            request = urllib.request.Request(
                url, data=data if body is not None else None, headers=headers, method=method
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    payload = response.read()
                    if response.headers.get_content_type() == "text/csv":
                        return payload
                    return json.loads(payload)
            except urllib.error.HTTPError as error:
                payload = json.loads(error.read() or b"{}")
                if error.code == 429 and attempt < retries:
                    time.sleep(int(error.headers.get("Retry-After", "1")))
                    continue
                if error.code >= 500 and attempt < retries:
                    time.sleep(2**attempt)
                    continue
                detail = payload.get("error", {})
                raise ApiError(
                    error.code, detail.get("code", ""), detail.get("message", ""), payload
                ) from None
            except (urllib.error.URLError, TimeoutError):
                if attempt == retries:
                    raise
                time.sleep(2**attempt)
        raise RuntimeError("unreachable")

    # --- the operations ---
    def categories(self):
        return self.request("GET", "/api/v1/partner/categories")["categories"]

    def billers(self, category=None):
        return self.request(
            "GET", "/api/v1/partner/billers", params={"category": category} if category else None
        )["billers"]

    def enquiry(self, biller_code: str, account_no: str):
        biller, account = urllib.parse.quote(biller_code), urllib.parse.quote(account_no)
        path = f"/api/v1/partner/billers/{biller}/accounts/{account}"
        return self.request("GET", path)

    def pay(
        self, *, biller_code, account_no, amount: str, partner_ref: str, periods=(), idempotency_key=None
    ):
        body = {
            "biller_code": biller_code,
            "account_no": account_no,
            "amount": amount,
            "periods": list(periods),
            "partner_ref": partner_ref,
        }
        key = idempotency_key or str(uuid.uuid4())
        return self.request("POST", "/api/v1/partner/payments", body=body, idempotency_key=key)

    def pay_batch(self, payments: list[dict], *, idempotency_key=None):
        """Up to 100 payments at once (POST payment-batches): each a `pay` body with its own
        `idempotency_key`, answered on its own; keep the batch's key to send it again after a timeout."""
        body = {"payments": payments}
        key = idempotency_key or str(uuid.uuid4())
        return self.request("POST", "/api/v1/partner/payment-batches", body=body, idempotency_key=key)

    def status(self, receipt_no: str):
        return self.request("GET", f"/api/v1/partner/payments/{receipt_no}")

    def reverse(self, receipt_no: str, *, reason: str, reversal_ref: str):
        body = {"reason": reason, "reversal_ref": reversal_ref}
        return self.request("POST", f"/api/v1/partner/payments/{receipt_no}/reversal", body=body)

    def statement(self, day: datetime.date) -> str:
        return self.request("GET", f"/api/v1/partner/statements/{day.isoformat()}").decode()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Pay a bill through the BillPay partner API.")
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--key-id", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--biller", required=True)
    parser.add_argument("--account", required=True)
    parser.add_argument("--reverse", action="store_true", help="reverse the payment afterwards")
    args = parser.parse_args(argv)

    client = PartnerClient(args.base_url, args.key_id, args.secret)
    print("billers:", ", ".join(b["code"] for b in client.billers()))
    bills = client.enquiry(args.biller, args.account)
    print(f"account {bills['account_no']} ({bills['holder_name']}): {bills['total_outstanding']} due")
    if bills["total_outstanding"] == "0.00":
        print("nothing to pay")
        return 0
    ref = "DEMO-" + uuid.uuid4().hex[:12].upper()
    key = str(uuid.uuid4())
    payment = client.pay(
        biller_code=args.biller,
        account_no=args.account,
        amount=bills["total_outstanding"],
        partner_ref=ref,
        idempotency_key=key,
    )
    print(f"paid: receipt {payment['receipt_no']} {payment['amount']} ({payment['status']})")
    again = client.pay(
        biller_code=args.biller,
        account_no=args.account,
        amount=bills["total_outstanding"],
        partner_ref=ref,
        idempotency_key=key,
    )
    assert again["receipt_no"] == payment["receipt_no"], "a retry with the same key must not pay twice"
    print("retry with the same Idempotency-Key: same receipt, paid once")
    print("status:", client.status(payment["receipt_no"])["status"])
    if args.reverse:
        reversed_ = client.reverse(payment["receipt_no"], reason="payer cancelled", reversal_ref=ref + "-R")
        print("reversed:", reversed_["status"])
    statement = client.statement(datetime.date.fromisoformat(payment["business_date"]))
    print("statement:")
    print(statement, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
