"""django-allauth adapted to the portal: sign-in by e-mail or by a mainland mobile number, whose verification
codes go out through the SMS interface (payers.sms). The number is kept on the citizen's Payer row."""

import re

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.fields import PhoneField
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import gettext as _

from config.client_ip import client_ip
from payers.models import Payer
from payers.sms import send_sms

MAINLAND_MOBILE = re.compile(r"^1[3-9]\d{9}$")


def normalize_mobile(value: str) -> str:
    """138 0013 8000 → +8613800138000; numbers with a country code stay as they are."""
    value = re.sub(r"[\s-]+", "", value or "")
    if MAINLAND_MOBILE.fullmatch(value):
        return "+86" + value
    if value.startswith("0086"):
        return "+" + value[2:]
    return value


class MobileField(PhoneField):
    """allauth's E.164 field that also takes an 11-digit mainland number as people write it."""

    def to_python(self, value):
        return normalize_mobile(super().to_python(value))


class PortalAccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request) -> str:
        """allauth's login and code limits count per client as every other limit does: behind the trusted
        proxies, never by a forwarded header the client wrote (config/client_ip.py)."""
        return client_ip(request)

    def phone_form_field(self, **kwargs):
        kwargs.setdefault("label", _("Mobile number"))
        return MobileField(**kwargs)

    def clean_phone(self, phone: str) -> str:
        return normalize_mobile(phone)

    def send_verification_code_sms(self, user, phone: str, code: str, **kwargs) -> None:
        send_sms(
            phone, _("Your verification code for the bill payment platform is %(code)s.") % {"code": code}
        )

    def set_phone(self, user, phone: str, verified: bool) -> None:
        with transaction.atomic():
            payer, _created = Payer.objects.get_or_create(
                user=user, defaults={"display_name": user.get_username(), "email": user.email}
            )
            payer.mobile = phone
            payer.mobile_verified = verified
            payer.save(update_fields=["mobile", "mobile_verified"])

    def get_phone(self, user):
        payer = Payer.objects.filter(user=user).exclude(mobile="").first()
        return (payer.mobile, payer.mobile_verified) if payer else None

    def set_phone_verified(self, user, phone: str) -> None:
        Payer.objects.filter(user=user, mobile=phone).update(mobile_verified=True)

    def get_user_by_phone(self, phone: str):
        return get_user_model().objects.filter(payer__mobile=phone, is_active=True).first()
