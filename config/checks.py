"""With DEBUG off the platform refuses to start while a setting is only fit for the demo.

These are Django system checks at Error level, so every management command (migrate, createsuperuser,
`check` itself) stops with the list of what to fix, and config/wsgi.py runs them
before gunicorn takes a request (`refuse_unsafe_start`). With DEBUG on (the demo, `make run`) they say
nothing. The documented production environment is deploy/billpay.env.example.
"""

import ipaddress

from django.conf import settings
from django.core import checks
from django.core.management.base import BaseCommand

# The values that ship in config/settings.py and the docs: known to everyone who has read the source.
DEMO_SECRETS = frozenset({"demo-only-insecure-key-change-me", "sandbox-demo-key-change-me"})
DEMO_MARKERS = ("change-me", "changeme", "insecure", "example")
MIN_SECRET_LENGTH = 32
CONSOLE_EMAIL_BACKENDS = frozenset(
    {
        "django.core.mail.backends.console.EmailBackend",
        "django.core.mail.backends.locmem.EmailBackend",
        "django.core.mail.backends.dummy.EmailBackend",
    }
)
CONSOLE_SMS_BACKENDS = frozenset({"payers.sms.ConsoleSMSBackend", "payers.sms.LocmemSMSBackend"})
# (setting, backends that keep messages on the machine, what they carry, the fix, check id)
OUTBOUND = [
    (
        "EMAIL_BACKEND",
        CONSOLE_EMAIL_BACKENDS,
        "e-mail",
        "Use django.core.mail.backends.smtp.EmailBackend (EMAIL_HOST, ...) or, for staging, "
        "django.core.mail.backends.filebased.EmailBackend with EMAIL_FILE_PATH.",
        "billpay.E005",
    ),
    (
        "SMS_BACKEND",
        CONSOLE_SMS_BACKENDS,
        "text messages",
        "Use your SMS provider's backend or, for staging, payers.sms.FileSMSBackend with SMS_FILE_PATH.",
        "billpay.E006",
    ),
]


def demo_secret_reason(value: str) -> str | None:
    """Why `value` cannot be a production secret, or None when it may be one."""
    if not value:
        return "it is empty"
    if value in DEMO_SECRETS:
        return "it is the demo value published with the source"
    lowered = value.lower()
    marker = next((marker for marker in DEMO_MARKERS if marker in lowered), None)
    if marker:
        return f"it contains {marker!r}, the mark of a placeholder"
    if len(value) < MIN_SECRET_LENGTH:
        return f"it is shorter than {MIN_SECRET_LENGTH} characters"
    return None


def _secrets_to_check() -> list[tuple[str, str]]:
    names = ["SECRET_KEY", "API_CREDENTIAL_KEY"]
    if settings.SANDBOX_BANK_ENABLED:
        names.append("SANDBOX_BANK_KEY")
    if getattr(settings, "ALIPAY_ENABLED", False):
        names.append("ALIPAY_APP_PRIVATE_KEY")
    if getattr(settings, "WECHATPAY_ENABLED", False):
        names += ["WECHATPAY_PRIVATE_KEY", "WECHATPAY_APIV3_KEY"]
    return [(name, getattr(settings, name, "") or "") for name in names]


@checks.register(checks.Tags.security)
def production_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    if settings.DEBUG:
        return []
    errors: list[checks.CheckMessage] = []
    for name, value in _secrets_to_check():
        reason = demo_secret_reason(value)
        if reason:
            errors.append(
                checks.Error(
                    f"{name} cannot be used with DEBUG off: {reason}.",
                    hint="Generate one (python -c 'import secrets; print(secrets.token_urlsafe(50))') into "
                    f"a file readable only by the service and set {name}_FILE to its path.",
                    id="billpay.E001",
                )
            )
    if settings.API_CREDENTIAL_KEY and settings.API_CREDENTIAL_KEY == settings.SECRET_KEY:
        errors.append(
            checks.Error(
                "API_CREDENTIAL_KEY is the same as SECRET_KEY.",
                hint="Give the API credentials their own key: a leaked SECRET_KEY must not reveal the API "
                "secrets.",
                id="billpay.E002",
            )
        )
    if settings.SANDBOX_BANK_ENABLED and not settings.ALLOW_SANDBOX_IN_PRODUCTION:
        errors.append(
            checks.Error(
                "The sandbox bank is on (SANDBOX_BANK_ENABLED) with DEBUG off: anyone holding its key could "
                "mark orders paid with test money.",
                hint="Set SANDBOX_BANK_ENABLED=false. Only a staging walk may set "
                "ALLOW_SANDBOX_IN_PRODUCTION=true.",
                id="billpay.E003",
            )
        )
    if settings.CELERY_TASK_ALWAYS_EAGER:
        errors.append(
            checks.Error(
                "CELERY_TASK_ALWAYS_EAGER is on with DEBUG off: tasks would run inside web requests, "
                "notifications and reminders would be lost on the first error.",
                hint="Set CELERY_TASK_ALWAYS_EAGER=false and run `celery -A config worker` and one "
                "`celery -A config beat`.",
                id="billpay.E004",
            )
        )
    for name, local_backends, what, hint, code in OUTBOUND:
        backend = getattr(settings, name)
        if backend in local_backends:
            message = f"{name} is {backend}: with DEBUG off {what} would never leave."
            errors.append(checks.Error(message, hint=hint, id=code))
    return errors


def refuse_unsafe_start() -> None:
    """Run every system check as a management command would, and raise SystemCheckError on an error: the
    WSGI/ASGI application is never built while the settings are unsafe (gunicorn's workers fail to boot and
    gunicorn exits)."""
    BaseCommand().check(display_num_errors=False)


@checks.register(checks.Tags.security)
def trusted_proxies(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """TRUSTED_PROXIES must parse whatever DEBUG says: a typo would otherwise surface on the first request."""
    errors = []
    for entry in settings.TRUSTED_PROXIES:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            errors.append(
                checks.Error(
                    f"TRUSTED_PROXIES: {entry!r} is not an IP address or network.",
                    hint="Use a comma list such as 127.0.0.1,10.0.0.0/8,::1.",
                    id="billpay.E007",
                )
            )
    if settings.TRUSTED_PROXY_COUNT < 0:
        errors.append(
            checks.Error("TRUSTED_PROXY_COUNT cannot be negative.", id="billpay.E008"),
        )
    return errors


@checks.register(checks.Tags.security, deploy=True)
def guards_switched_off(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """`check --deploy` warnings for settings that parse but take a guard away: no staff role asked for a
    second factor, the sandbox bank allowed on a production site, or a "proxy" network so wide that any
    caller's X-Forwarded-For would be believed."""
    if settings.DEBUG:
        return []
    warnings = []
    if settings.STAFF_MFA_REQUIRED_ROLES == []:
        warnings.append(
            checks.Warning(
                "STAFF_MFA_REQUIRED_ROLES is empty: no staff role needs two-step verification, a password "
                "alone opens the admin and the counter.",
                hint="Leave it unset (every staff role) or name the roles that move money or see personal "
                "data; an empty value is for the demo only.",
                id="billpay.W001",
            )
        )
    if settings.SANDBOX_BANK_ENABLED and settings.ALLOW_SANDBOX_IN_PRODUCTION:
        warnings.append(
            checks.Warning(
                "The sandbox bank is on (ALLOW_SANDBOX_IN_PRODUCTION): citizens can 'pay' bills with test "
                "money that never reaches the platform's bank account.",
                hint="Only for a staging walk (deploy/up.sh); a real site sets SANDBOX_BANK_ENABLED=false.",
                id="billpay.W003",
            )
        )
    for entry in settings.TRUSTED_PROXIES:
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            continue  # billpay.E007
        if network.prefixlen < (8 if network.version == 4 else 16):
            warnings.append(
                checks.Warning(
                    f"TRUSTED_PROXIES: {entry!r} trusts a whole /{network.prefixlen} as proxies: callers "
                    "from it choose their own address in X-Forwarded-For (rate limits, login limits, audit "
                    "rows, the API allow-list).",
                    hint="Name only your reverse proxies, e.g. 127.0.0.1,::1 or the load balancers' subnet.",
                    id="billpay.W002",
                )
            )
    return warnings
