"""A sandbox IC-card system (issue 17, item 8), served under /sandbox-card-system/<biller code>/ when the
sandboxes are on (SANDBOX_BANK_ENABLED). A real biller runs this on its own system; it stands for the gas
or power company whose card writes confirm the platform's held top-ups (billing/topups.py).

It speaks only the public protocol, over HTTP: it receives the platform's signed `payment.posted` webhook
as any biller does (docs/partner-api.md, Webhooks), "writes the card" a moment later, and answers with a
signed POST /api/v1/biller/topups/<receipt_no>/card-write under the biller's own API key (it reads the
key from the platform's database only because it is a sandbox). Cards whose number ends in 9 fail to
write (the payer is refunded); cards ending in 8 are never answered (refunded when the hold times out).
Counter top-ups are left to the clerk's card writer.
"""

import hmac
import json
import logging
import secrets
import threading
import time
import urllib.error
import urllib.request

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from api import credentials
from api.models import ApiCredential, BillerApiAccess
from billing import signing

logger = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
WRITE_SECONDS = 3.0  # how long "writing the card" takes: the payer's receipt shows the wait, then the result


def answer_for(account_no: str) -> dict | None:
    """What the card system says about a write to this card; None: it never answers."""
    if account_no.endswith("8"):
        return None
    if account_no.endswith("9"):
        return {"result": "failed", "reason": "卡片芯片无法读取 / card chip unreadable"}
    return {"result": "written", "write_ref": f"IC{secrets.token_hex(6).upper()}"}


def confirm(*, receipt_no: str, answer: dict, key_id: str, secret: str) -> int | None:
    """The card system's signed call to the biller API once the card was (or was not) written; its status."""
    time.sleep(WRITE_SECONDS)
    path = f"/api/v1/biller/topups/{receipt_no}/card-write"
    body = json.dumps(answer).encode()
    timestamp, nonce = str(int(time.time())), secrets.token_hex(12)
    request = urllib.request.Request(
        settings.SITE_URL.rstrip("/") + path,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Idempotency-Key": f"card-{receipt_no}",
            signing.KEY_HEADER: key_id,
            signing.TIMESTAMP_HEADER: timestamp,
            signing.NONCE_HEADER: nonce,
            signing.SIGNATURE_HEADER: signing.sign(
                secret, method="POST", path=path, query="", timestamp=timestamp, nonce=nonce, body=body
            ),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        logger.warning("sandbox card system: %s answered %s", receipt_no, exc.code)
        return exc.code
    except (urllib.error.URLError, OSError) as exc:
        logger.warning("sandbox card system: %s not confirmed: %s", receipt_no, exc)
        return None


@csrf_exempt
@require_POST
def webhook(request, biller_code: str):
    access = BillerApiAccess.objects.filter(biller__code=biller_code).first()
    if access is None:
        return HttpResponse(status=404)
    body = request.body[:MAX_BODY]
    expected = signing.webhook_signature(
        credentials.webhook_secret_for(access),
        timestamp=request.headers.get("X-BillPay-Timestamp", ""),
        body=body,
    )
    if not hmac.compare_digest(expected, request.headers.get("X-BillPay-Signature", "")):
        return HttpResponse(status=401)
    try:
        event = json.loads(body)
    except ValueError:
        return HttpResponse(status=400)
    payment = event.get("payment") if isinstance(event, dict) else None
    payment = payment if isinstance(payment, dict) else {}
    if (
        event.get("event") != "payment.posted"
        or payment.get("biller_code") != biller_code
        or payment.get("channel") == "counter"  # the clerk's card writer answers for the counter
    ):
        return HttpResponse(status=204)
    answer = answer_for(str(payment.get("account_no", "")))
    now = timezone.now()
    credential = next(
        (c for c in ApiCredential.objects.filter(biller_access=access).order_by("-pk") if c.usable_at(now)),
        None,
    )
    if answer is not None and credential is not None:
        threading.Thread(
            target=confirm,
            kwargs={
                "receipt_no": str(payment.get("receipt_no", ""))[:32],
                "answer": answer,
                "key_id": credential.key_id,
                "secret": credentials.secret_for(credential),
            },
            daemon=True,
        ).start()
    return HttpResponse(status=204)
