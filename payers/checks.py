"""Start-up checks of the payment gateways' own settings (registered in PayersConfig.ready).

An Alipay key the SDK cannot read does not show until a payer presses "pay" (a 500 on every checkout) or
Alipay's first notification arrives (refused as forged, the payment never posted): refuse to start instead,
whatever DEBUG says, since the gateway is only on when someone switched it on."""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security)
def alipay_keys(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    if not getattr(settings, "ALIPAY_ENABLED", False):
        return []
    from payers.gateways.alipay import alipay_public_key, merchant_private_key

    errors = []
    for name, read, hint in (
        (
            "ALIPAY_APP_PRIVATE_KEY",
            merchant_private_key,
            "Put the application private key (应用私钥) made with Alipay's key tool or `openssl genrsa` "
            "into the file ALIPAY_APP_PRIVATE_KEY_FILE names: PEM, PKCS#1 or PKCS#8, or its bare base64.",
        ),
        (
            "ALIPAY_PUBLIC_KEY",
            alipay_public_key,
            "Put Alipay's public key (支付宝公钥, from the open platform's console, not the application "
            "public key) into the file ALIPAY_PUBLIC_KEY_FILE names.",
        ),
    ):
        try:
            read()
        except ValueError as exc:
            errors.append(checks.Error(f"{name} cannot be read: {exc}.", hint=hint, id="payers.E001"))
    return errors


@checks.register(checks.Tags.security)
def wechatpay_keys(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """WeChat Pay's keys are read at start: an unreadable one would fail every payment and notification."""
    if not getattr(settings, "WECHATPAY_ENABLED", False):
        return []
    from payers.gateways.wechat import merchant_private_key, platform_key

    errors = []
    for name, read, hint in (
        (
            "WECHATPAY_PRIVATE_KEY",
            lambda: merchant_private_key(settings.WECHATPAY_PRIVATE_KEY),
            "Put the merchant API key (apiclient_key.pem, 商户API私钥) into the file "
            "WECHATPAY_PRIVATE_KEY_FILE names.",
        ),
        (
            "WECHATPAY_PLATFORM_CERT",
            lambda: platform_key(settings.WECHATPAY_PLATFORM_CERT, settings.WECHATPAY_PLATFORM_SERIAL),
            "Put the platform certificate (平台证书) or WeChat Pay's public key (微信支付公钥, with "
            "WECHATPAY_PLATFORM_SERIAL set to its PUB_KEY_ID_…) into the file "
            "WECHATPAY_PLATFORM_CERT_FILE names.",
        ),
    ):
        try:
            read()
        except ValueError as exc:
            errors.append(checks.Error(f"{name} cannot be read: {exc}.", hint=hint, id="payers.E002"))
    return errors
