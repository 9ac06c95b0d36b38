"""Row locks of the partner and biller APIs. A partner or credential is locked on its own (nothing else in
the same transaction); an idempotency record is locked before the payment its request posts (then
billing.locks: account → bills); a webhook delivery on its own, before the HTTP call
(the claim) and after it (the result)."""

from api.models import ApiCredential, IdempotencyRecord, Partner, WebhookDelivery


def lock_partner(partner_id: int) -> Partner:
    return Partner.objects.select_for_update().get(pk=partner_id)


def lock_credential(credential_id: int) -> ApiCredential:
    return ApiCredential.objects.select_for_update().get(pk=credential_id)


def lock_idempotency_record(*, scope: str, key: str) -> IdempotencyRecord:
    return IdempotencyRecord.objects.select_for_update().get(scope=scope, key=key)


def lock_webhook_delivery(delivery_id: int) -> WebhookDelivery | None:
    """A delivery while it is claimed for a send, or its result recorded (api.webhooks)."""
    return (
        WebhookDelivery.objects.select_for_update(of=("self",))
        .select_related("biller_access__biller", "credential__partner", "partner")
        .filter(pk=delivery_id)
        .first()
    )
