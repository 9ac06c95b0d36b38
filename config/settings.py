"""Settings for the bill-payment platform.

Every value comes from the environment with a default that is safe for the demo (`make run`): Celery tasks run
eagerly, DEBUG on. DATABASE_URL has no default: `make run` sets it to its embedded PostgreSQL. With DEBUG off
the defaults turn safe (no eager tasks, HTTPS only) and the platform refuses to start while a setting is still
the demo's (config/checks.py); the production environment is documented in deploy/billpay.env.example.
"""

import datetime
import ipaddress
from decimal import Decimal
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONCE
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from config.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env_str("SECRET_KEY", "demo-only-insecure-key-change-me" if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) must be set when DEBUG is off")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "config.apps.ConfigAppConfig",
    "csp",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "import_export",
    "billing",
    "payers",
    "branches",
    "disputes",
    "reconciliation",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "demo",  # the demo region of `make run`: above every app, imported by none (tests/test_layers.py)
]

# The Page… middleware are Django's, CSP's and WhiteNoise's, skipped by the signed open APIs (/api/v1/), which
# have no sessions, cookies, forms or documents (config/middleware.py).
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.PageCSPMiddleware",
    "config.middleware.PageWhiteNoiseMiddleware",
    "config.middleware.PageSessionMiddleware",
    "config.middleware.ChineseFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Django's own, by name: `check --deploy` looks for it (security.W003). A signed API's views are
    # csrf_exempt (DRF), and no token is made for them, so it sets no cookie there.
    "django.middleware.csrf.CsrfViewMiddleware",
    "config.middleware.PageAuthenticationMiddleware",
    "config.middleware.PageMessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Innermost: Redis or the broker away → a clear 503, not a bare 500 (config/unavailable.py).
    "config.unavailable.ServiceUnavailableMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "payers.context_processors.portal",
                "csp.context_processors.nonce",
            ],
        },
    },
]

# Database: PostgreSQL only, the demo included (`make run` starts an embedded one, scripts/demo_db.py).
# No default: a process that lost its DATABASE_URL must stop, not pick a database by itself.
# Reusing connections matters: without it a database page was 4x slower on the 2-core machine.
# (A lower-case name: not a setting, so the debug page never shows its password.)
_database_url = env_str("DATABASE_URL")
if not _database_url:
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. `make run` starts the demo on an embedded PostgreSQL and sets it; "
        "otherwise point it at a PostgreSQL server, e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/billpay"
    )
DATABASES = {
    "default": dj_database_url.parse(
        _database_url, conn_max_age=env_int("CONN_MAX_AGE", 60), conn_health_checks=True
    )
}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured(
        f"DATABASE_URL must name a PostgreSQL server (postgres://…), not {DATABASES['default']['ENGINE']}: "
        "the platform's locks, ledger triggers and bulk paths are PostgreSQL's."
    )
# Django's backend with a health check that sends no `SELECT 1` while the connection is plainly alive
# (config/postgresql/base.py).
DATABASES["default"]["ENGINE"] = "config.postgresql"
# Django's cursors bind parameters on the client and never prepare; the portal's lookup page uses a
# server-binding cursor whose one statement PostgreSQL prepares once per connection (payers/selectors.py).
# PREPARE_THRESHOLD=0 turns it off behind a pooler that cannot keep prepared statements.
DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = env_int("PREPARE_THRESHOLD", 5) or None
# A streaming read replica (issue 16, docs/scaling.md): reads that may lag a few seconds go there
# (config/db_router.py); writes, and reads inside a transaction, stay on the primary.
_replica_url = env_str("DATABASE_REPLICA_URL", "")
if _replica_url:
    DATABASES["replica"] = dj_database_url.parse(
        _replica_url, conn_max_age=env_int("CONN_MAX_AGE", 60), conn_health_checks=True
    )
    if DATABASES["replica"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_REPLICA_URL must name a PostgreSQL server (postgres://…).")
    DATABASES["replica"]["ENGINE"] = DATABASES["default"]["ENGINE"]
    DATABASES["replica"]["OPTIONS"] = dict(DATABASES["default"]["OPTIONS"])
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}  # tests read the primary's test database
DATABASE_ROUTERS = ["config.db_router.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Simplified Chinese by default; English when chosen with the switch (/i18n/setlang/ sets a cookie).
# The APIs follow Accept-Language instead (config/middleware.py).
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
# locale/ is the project's own catalogue (`make messages` regenerates it); locale_overrides/ is the
# hand-kept Chinese for Django's and third-party apps' strings (its README.md). Both win over the apps'
# catalogues, the first over the second.
LOCALE_PATHS = [BASE_DIR / "locale", BASE_DIR / "locale_overrides"]
TIME_ZONE = env_str("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# --- Production static files (issue 12, docs/deploy.md) ---
# With DEBUG off the pages name hashed files from `collectstatic`'s manifest, which WhiteNoise serves with a
# year-long cache. The demo and the test suite (DEBUG unset, so on when settings load) keep plain names and
# need no collectstatic. STATIC_MANIFEST=true/false overrides either way.
STATIC_MANIFEST = env_bool("STATIC_MANIFEST", not DEBUG)
if STATIC_MANIFEST:
    STORAGES["staticfiles"] = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}

LOGIN_URL = "admin:login"

# Celery: Redis is the broker in tests and production; the demo runs tasks eagerly in-process.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", "redis://127.0.0.1:6379/1")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", DEBUG)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TIMEZONE = TIME_ZONE

# Cache: rate limits (logins, lookups, partner API) must be shared by every worker, so production and the
# tests use Redis; the demo keeps an in-process cache and needs no service.
CACHE_URL = env_str("CACHE_URL", "locmem://")
if CACHE_URL.startswith(("redis://", "rediss://")):
    # Django's Redis cache, reusing its client objects (config/redis_cache.py).
    CACHES = {"default": {"BACKEND": "config.redis_cache.ReusingRedisCache", "LOCATION": CACHE_URL}}
elif CACHE_URL == "locmem://":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    raise ImproperlyConfigured(f"CACHE_URL={CACHE_URL!r}: use redis://host:port/db or locmem://")
# What every visitor's page repeats is kept per process by {% per_process %} (config/templatetags).

# The posting desk (billing/posting_desk.py): a process that posts the single payments arriving together as
# one batch. Its queue is a Redis list; empty: no desk, every payment is posted by its own request. A request
# the desk has not answered in POSTING_DESK_WAIT seconds is posted by its caller (the same key: a replay).
POSTING_DESK_URL = env_str("POSTING_DESK_URL", "")
POSTING_DESK_WAIT = env_int("POSTING_DESK_WAIT", 3)

# Pay links (/pay/<token>/, printed as QR codes on bills and slips) expire after this many days.
PAY_LINK_MAX_AGE_DAYS = env_int("PAY_LINK_MAX_AGE_DAYS", 120)

# Bill files with more rows than this are imported from the admin by a Celery task with a progress page.
BILL_IMPORT_ASYNC_ROWS = env_int("BILL_IMPORT_ASYNC_ROWS", 5000)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# The platform's name as citizens and staff see it.
PLATFORM_NAME = _("Open Bill Payment Platform")

# LOGGING: see "Observability" at the end of this file.

# The CJK TrueType font printed slips embed (a .ttf or .ttc; Debian's fonts-wqy-microhei by default), so every
# glyph, the middle dot included, prints the same on any reader. Collections pick their face by index.
PDF_FONT_PATH = env_str("PDF_FONT_PATH", "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
PDF_FONT_INDEX = int(env_str("PDF_FONT_INDEX", "0"))

# The site's address, for links in e-mails, text messages and printed slips.
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "noreply@billpay.example")

# Open APIs (api/, docs/partner-api.md). API secrets are derived from API_CREDENTIAL_KEY and a random seed
# per key (never stored): set it once in production and keep it; changing it changes every API secret.
API_CREDENTIAL_KEY = env_str("API_CREDENTIAL_KEY", SECRET_KEY if DEBUG else "")
if not API_CREDENTIAL_KEY:
    raise ImproperlyConfigured(
        "API_CREDENTIAL_KEY (or API_CREDENTIAL_KEY_FILE) must be set when DEBUG is off"
    )
API_SIGNATURE_MAX_SKEW_SECONDS = env_int("API_SIGNATURE_MAX_SKEW_SECONDS", 300)
API_KEY_ROTATION_OVERLAP_HOURS = env_int("API_KEY_ROTATION_OVERLAP_HOURS", 72)
API_DEFAULT_RATE_LIMIT_PER_MINUTE = env_int("API_DEFAULT_RATE_LIMIT_PER_MINUTE", 600)
API_IDEMPOTENCY_RETENTION_HOURS = env_int("API_IDEMPOTENCY_RETENTION_HOURS", 72)
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 8)
# Hosted checkout (api/checkout.py): how long a partner's signed link may be opened after it was signed.
HOSTED_CHECKOUT_LINK_SECONDS = env_int("HOSTED_CHECKOUT_LINK_SECONDS", 600)
# Start here, finish there (payers.handoff): how long the QR code of a pending order may be scanned.
PORTAL_HANDOFF_SECONDS = env_int("PORTAL_HANDOFF_SECONDS", 300)

SPECTACULAR_SETTINGS = {
    "TITLE": "BillPay open APIs",
    "DESCRIPTION": "Partner API and biller API of the open bill-payment platform. Requests are signed "
    "(HMAC-SHA256); see docs/partner-api.md.\n\n"
    "**Webhooks (biller API)**: `payment.posted` and `payment.reversed` are POSTed to the biller's "
    "webhook URL. "
    "Delivery is **at least once**: the same event may arrive more than once (a lost answer, a retry, a "
    "redelivery by an administrator). Each event carries one stable id, in the `X-BillPay-Event-Id` header "
    "and the body's `id`, the same on every attempt: record it with what you do and ignore an id you have "
    "seen (still answering 2xx). Signed with `X-BillPay-Signature`; see docs/partner-api.md, Webhooks.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1/",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ListedBillerStatusEnum": ["active", "suspended"],
        "PaymentStatusEnum": ["posted", "reversed"],
    },
}
# Periodic work of the open APIs (run `celery -A config beat` next to the worker).
CELERY_BEAT_SCHEDULE = {
    "api-retry-due-webhooks": {"task": "api.tasks.retry_due_webhooks", "schedule": 60.0},
    "api-purge-idempotency-records": {"task": "api.tasks.purge_idempotency_records", "schedule": 3600.0},
    # Fiscal e-receipts whose work stopped (billing.fiscal.stalled_receipt_ids).
    "billing-resume-fiscal-receipts": {"task": "billing.tasks.resume_fiscal_receipts", "schedule": 900.0},
}
# Citizen portal (payers app): payment gateways by code, the sandbox bank, rate limits, accounts.
PAYMENT_GATEWAYS = {
    "SANDBOX": "payers.gateways.sandbox.SandboxGateway",
    "ALIPAY": "payers.gateways.alipay.AlipayGateway",
    "WECHAT": "payers.gateways.wechat.WeChatGateway",
}
PORTAL_DEFAULT_GATEWAY = env_str("PORTAL_DEFAULT_GATEWAY", "SANDBOX")
SANDBOX_BANK_ENABLED = env_bool("SANDBOX_BANK_ENABLED", DEBUG)  # and its URLs (config/urls.py)
SANDBOX_BANK_MERCHANT_ID = env_str("SANDBOX_BANK_MERCHANT_ID", "BILLPAY")
SANDBOX_BANK_KEY = env_str("SANDBOX_BANK_KEY", "sandbox-demo-key-change-me" if DEBUG else "")
# The sandbox bank declines agreement debits of this amount or more ("insufficient funds"), so the demo and
# the tests can show a failing auto-pay debit and its retries.
SANDBOX_BANK_DEBIT_DECLINE_FROM = Decimal(env_str("SANDBOX_BANK_DEBIT_DECLINE_FROM", "99999.00"))
# scope → (requests, per seconds), counted per client address in the shared cache.
PORTAL_RATE_LIMITS = {
    "lookup": (env_int("PORTAL_LOOKUP_LIMIT", 30), env_int("PORTAL_LOOKUP_WINDOW", 300)),
    "verify": (env_int("PORTAL_VERIFY_LIMIT", 30), env_int("PORTAL_VERIFY_WINDOW", 300)),
}

# Citizen accounts: django-allauth, sign-in by e-mail (verified) or by mobile number.
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_ADAPTER = "payers.accounts.PortalAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email", "phone"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "phone", "password1*", "password2*"]
ACCOUNT_LOGIN_BY_CODE_ENABLED = True
ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED = False
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = env_str("MFA_TOTP_ISSUER", "BillPay")
# Text messages (verification codes, reminders): the console in the demo, a provider's backend in production.
SMS_BACKEND = env_str("SMS_BACKEND", "payers.sms.ConsoleSMSBackend")
ACCOUNT_EMAIL_VERIFICATION = env_str("ACCOUNT_EMAIL_VERIFICATION", "mandatory")
ACCOUNT_RATE_LIMITS = {"login_failed": False}  # failed logins: django-axes ("Staff logins" below)
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
LOGIN_REDIRECT_URL = "/me/accounts/"

# Reminders for accounts bound in "My accounts": due-soon (this many days ahead) and overdue, every morning.
REMINDER_DUE_SOON_DAYS = env_int("REMINDER_DUE_SOON_DAYS", 3)
CELERY_BEAT_SCHEDULE["portal-bill-reminders"] = {
    "task": "payers.tasks.send_reminders",
    "schedule": crontab(hour=9, minute=0),
}
# Auto-pay mandates (代扣, payers.mandates): beat schedules each new bill's debit (with its notice) and runs
# the debits that are due, every hour. Limits a citizen may set: the most per bill, the longest validity, and
# the days between the notice and the debit. A debit left "being debited" this long is asked about again.
CELERY_BEAT_SCHEDULE["portal-run-mandates"] = {"task": "payers.tasks.run_mandates", "schedule": 3600.0}
MANDATE_MAX_CAP = Decimal(env_str("MANDATE_MAX_CAP", "5000.00"))
MANDATE_MAX_YEARS = env_int("MANDATE_MAX_YEARS", 3)
MANDATE_NOTICE_DAYS = (env_int("MANDATE_NOTICE_DAYS_MIN", 1), env_int("MANDATE_NOTICE_DAYS_MAX", 15))
MANDATE_PROCESSING_STALE_MINUTES = env_int("MANDATE_PROCESSING_STALE_MINUTES", 30)
if MANDATE_MAX_CAP <= 0 or not 0 <= MANDATE_NOTICE_DAYS[0] <= MANDATE_NOTICE_DAYS[1]:
    raise ImproperlyConfigured("MANDATE_MAX_CAP must be above 0 and MANDATE_NOTICE_DAYS_MIN ≤ _MAX")
# Family payment (亲情付, payers.family): the highest limit a citizen may give a family member per month.
FAMILY_MAX_MONTHLY_LIMIT = Decimal(env_str("FAMILY_MAX_MONTHLY_LIMIT", "10000.00"))
# Orders whose bank notification has not come are asked about (the bank's trade query).
CELERY_BEAT_SCHEDULE["portal-query-pending-orders"] = {
    "task": "payers.tasks.query_pending_orders",
    "schedule": crontab(minute="*/5"),
}
PORTAL_QUERY_PENDING_AFTER_MINUTES = env_int("PORTAL_QUERY_PENDING_AFTER_MINUTES", 5)
# How long a payer has to pay an order at the bank: the bank is told (time_expire) and takes no money after
# it. An order still pending that long (plus the query delay above) is closed: the payer gave up.
PORTAL_ORDER_TIMEOUT_MINUTES = env_int("PORTAL_ORDER_TIMEOUT_MINUTES", 30)
# An order with more receipts than this gets its one-PDF download built by a task, with a progress page.
PORTAL_INLINE_RECEIPTS_MAX = env_int("PORTAL_INLINE_RECEIPTS_MAX", 100)
# Orders with more lines than this (batch proxy payments) are posted by a Celery task after the notification.
PORTAL_INLINE_SETTLE_MAX_LINES = env_int("PORTAL_INLINE_SETTLE_MAX_LINES", 20)
PROXY_BATCH_MAX_ROWS = env_int("PROXY_BATCH_MAX_ROWS", 5000)
# Branches and the cash channel (branches app).
BRANCH_CLOSURE_NOTICE_DAYS = env_int("BRANCH_CLOSURE_NOTICE_DAYS", 7)  # a planned closure's least notice
BRANCH_NOTICE_RECENT_DAYS = env_int("BRANCH_NOTICE_RECENT_DAYS", 90)  # payers told of an outlet's closure
CELERY_BEAT_SCHEDULE["branches-apply-due-closures"] = {
    "task": "branches.tasks.apply_due_closures",
    "schedule": 3600.0,
}
# Reconciliation and settlement (reconciliation app).
RECON_AMOUNT_TOLERANCE = Decimal(env_str("RECON_AMOUNT_TOLERANCE", "0.00"))
RECON_TIME_WINDOW_SECONDS = env_int("RECON_TIME_WINDOW_SECONDS", 900)
RECON_COMPLAINT_RESPONSE_HOURS = env_int("RECON_COMPLAINT_RESPONSE_HOURS", 48)
RECON_INBOX_DIR = env_str("RECON_INBOX_DIR", str(BASE_DIR / "var" / "statements"))
if RECON_AMOUNT_TOLERANCE < 0 or RECON_AMOUNT_TOLERANCE.quantize(Decimal("0.01")) != RECON_AMOUNT_TOLERANCE:
    raise ImproperlyConfigured("RECON_AMOUNT_TOLERANCE must be 0 or more with at most two decimals")
CELERY_BEAT_SCHEDULE["reconcile-yesterday"] = {
    "task": "reconciliation.tasks.nightly_reconcile",
    "schedule": crontab(hour=2, minute=30),
}
# Settleable money older than this many working days and in no settlement batch is reported (ERROR log and
# an audit event) by the nightly settlement.
SETTLEMENT_OVERDUE_WORKING_DAYS = env_int("SETTLEMENT_OVERDUE_WORKING_DAYS", 3)
# Disputes (disputes app): escalate those past their response time; settle disputed channel debits (T+1).
CELERY_BEAT_SCHEDULE["disputes-escalate-overdue"] = {
    "task": "disputes.tasks.escalate_overdue_disputes",
    "schedule": crontab(minute="*/15"),
}
CELERY_BEAT_SCHEDULE["reconcile-disputed-debits"] = {
    "task": "reconciliation.tasks.resolve_disputed_debits",
    "schedule": crontab(minute="*/30"),
}
CELERY_BEAT_SCHEDULE["settle-yesterday"] = {
    "task": "reconciliation.tasks.nightly_settle",
    "schedule": crontab(hour=5, minute=0),
}
# Alipay mobile-web payment: off in the demo. Keys are PEM text (or *_FILE paths to mounted secrets).
ALIPAY_ENABLED = env_bool("ALIPAY_ENABLED", False)
ALIPAY_APP_ID = env_str("ALIPAY_APP_ID", "")
ALIPAY_APP_PRIVATE_KEY = env_str("ALIPAY_APP_PRIVATE_KEY", "")
ALIPAY_PUBLIC_KEY = env_str("ALIPAY_PUBLIC_KEY", "")
ALIPAY_GATEWAY_URL = env_str("ALIPAY_GATEWAY_URL", "https://openapi.alipay.com/gateway.do")
if ALIPAY_ENABLED and not (ALIPAY_APP_ID and ALIPAY_APP_PRIVATE_KEY and ALIPAY_PUBLIC_KEY):
    raise ImproperlyConfigured(
        "ALIPAY_ENABLED needs ALIPAY_APP_ID, ALIPAY_APP_PRIVATE_KEY and ALIPAY_PUBLIC_KEY"
    )

# WeChat Pay API v3 (Native QR and H5): off in the demo. The merchant's key (apiclient_key.pem) and the
# platform's certificate or public key (微信支付公钥; then WECHATPAY_PLATFORM_SERIAL = its PUB_KEY_ID_…) are
# PEM text or *_FILE paths to mounted secrets; the APIv3 key is the 32-character key set in the merchant
# platform. The trade bill of yesterday is fetched into reconciliation (channel ONLINE:WECHAT) at 10:00.
WECHATPAY_ENABLED = env_bool("WECHATPAY_ENABLED", False)
WECHATPAY_MCHID = env_str("WECHATPAY_MCHID", "")
WECHATPAY_APPID = env_str("WECHATPAY_APPID", "")
WECHATPAY_CERT_SERIAL = env_str("WECHATPAY_CERT_SERIAL", "")
WECHATPAY_PRIVATE_KEY = env_str("WECHATPAY_PRIVATE_KEY", "")
WECHATPAY_APIV3_KEY = env_str("WECHATPAY_APIV3_KEY", "")
WECHATPAY_PLATFORM_CERT = env_str("WECHATPAY_PLATFORM_CERT", "")
WECHATPAY_PLATFORM_SERIAL = env_str("WECHATPAY_PLATFORM_SERIAL", "")
WECHATPAY_API_URL = env_str("WECHATPAY_API_URL", "https://api.mch.weixin.qq.com")
WECHATPAY_TIMEOUT_SECONDS = env_int("WECHATPAY_TIMEOUT_SECONDS", 20)
if WECHATPAY_ENABLED:
    _missing = [
        name
        for name in (
            "WECHATPAY_MCHID",
            "WECHATPAY_APPID",
            "WECHATPAY_CERT_SERIAL",
            "WECHATPAY_PRIVATE_KEY",
            "WECHATPAY_APIV3_KEY",
            "WECHATPAY_PLATFORM_CERT",
        )
        if not globals()[name]
    ]
    if _missing:
        raise ImproperlyConfigured(f"WECHATPAY_ENABLED needs {', '.join(_missing)}")
    if len(WECHATPAY_APIV3_KEY.encode()) != 32:
        raise ImproperlyConfigured("WECHATPAY_APIV3_KEY must be the 32-character APIv3 key")

CELERY_BEAT_SCHEDULE["fetch-wechat-trade-bill"] = {
    "task": "reconciliation.tasks.fetch_wechat_trade_bill",
    "schedule": crontab(hour=10, minute=30),
}

# --- Untrusted files (issue 12) ---
# Every file from outside is read by billing/untrusted_files.py within these bounds; a file past any of
# them is refused whole with a stable code and nothing stored (README, "Files from outside").
# Request bodies that are not file uploads (forms, API JSON such as the biller API's bill batches): larger
# ones are refused by Django before they are read. Uploaded files above FILE_UPLOAD_MAX_MEMORY_SIZE are
# spooled to a temporary file instead of memory; the per-kind limits below cap them (so should the proxy:
# nginx's client_max_body_size at least the largest of them).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 5 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = env_int("FILE_UPLOAD_MAX_MEMORY_SIZE", 2 * 1024 * 1024)
# Bytes of each kind of file as it arrives (packed, if it is a gzip or zip).
UNTRUSTED_FILE_MAX_BYTES = {
    "statement": env_int("STATEMENT_FILE_MAX_BYTES", 64 * 1024 * 1024),
    "confirmation": env_int("CONFIRMATION_FILE_MAX_BYTES", 8 * 1024 * 1024),
    "bill_file": env_int("BILL_FILE_MAX_BYTES", 256 * 1024 * 1024),
    "proxy_batch": env_int("PROXY_BATCH_FILE_MAX_BYTES", 5 * 1024 * 1024),
    "branch_file": env_int("BRANCH_FILE_MAX_BYTES", 5 * 1024 * 1024),
}
# Gzip and zip (statements, XLSX workbooks): unpacked size, unpacked/packed ratio (checked past 1 MiB),
# files in one zip. Decompression streams and stops at the first cap it passes.
UNTRUSTED_UNPACKED_MAX_BYTES = env_int("UNPACKED_MAX_BYTES", 256 * 1024 * 1024)
UNTRUSTED_MAX_COMPRESSION_RATIO = env_int("MAX_COMPRESSION_RATIO", 100)
UNTRUSTED_ZIP_MAX_MEMBERS = env_int("ZIP_MAX_MEMBERS", 64)
# Text files: characters in one line, and in one CSV field (csv.field_size_limit).
UNTRUSTED_LINE_MAX_CHARS = env_int("FILE_LINE_MAX_CHARS", 64 * 1024)
UNTRUSTED_FIELD_MAX_CHARS = env_int("FILE_FIELD_MAX_CHARS", 16 * 1024)
for _name, _value in [
    *UNTRUSTED_FILE_MAX_BYTES.items(),
    ("UNPACKED_MAX_BYTES", UNTRUSTED_UNPACKED_MAX_BYTES),
    ("MAX_COMPRESSION_RATIO", UNTRUSTED_MAX_COMPRESSION_RATIO),
    ("ZIP_MAX_MEMBERS", UNTRUSTED_ZIP_MAX_MEMBERS),
    ("FILE_LINE_MAX_CHARS", UNTRUSTED_LINE_MAX_CHARS),
    ("FILE_FIELD_MAX_CHARS", UNTRUSTED_FIELD_MAX_CHARS),
]:
    if _value < 1:
        raise ImproperlyConfigured(f"the file limit {_name} must be 1 or more")

# --- Staff logins (issue 12) ---
# One mechanism counts failed logins everywhere: django-axes, in the database (every worker sees a lock-out,
# platform admins see and lift it in the admin). The admin login (= the counter's), the portal's login, the
# counter's supervisor password and every second-factor code count against one key per account
# (billing/staff_auth.py). LOGIN_FAILURE_LIMIT wrong in a row lock it for LOGIN_LOCKOUT_MINUTES.
INSTALLED_APPS.insert(INSTALLED_APPS.index("demo"), "axes")  # the demo app stays last
AUTHENTICATION_BACKENDS.insert(0, "axes.backends.AxesStandaloneBackend")
MIDDLEWARE += ["billing.staff_auth.StaffMFAMiddleware", "axes.middleware.AxesMiddleware"]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 30))
if AXES_FAILURE_LIMIT < 1 or env_int("LOGIN_LOCKOUT_MINUTES", 30) < 1:
    raise ImproperlyConfigured("LOGIN_FAILURE_LIMIT and LOGIN_LOCKOUT_MINUTES must be 1 or more")
# Per account, from any address (the addresses are kept on the record): rotating addresses, browsers or
# cookies gains nothing. Counting per address too would let one mistyping clerk lock a whole branch behind
# one NAT address, so axes' advice to add "ip_address" (axes.W006) is deliberately not taken.
AXES_LOCKOUT_PARAMETERS = ["username"]
SILENCED_SYSTEM_CHECKS = [*globals().get("SILENCED_SYSTEM_CHECKS", []), "axes.W006"]
AXES_RESET_ON_SUCCESS = True  # "in a row": a right password clears the account's count
AXES_USERNAME_CALLABLE = "billing.staff_auth.login_identifier"
AXES_CLIENT_IP_CALLABLE = "billing.staff_auth.axes_client_ip"  # config.client_ip.client_ip, checked
AXES_LOCKOUT_CALLABLE = "billing.staff_auth.lockout_response"
AXES_ENABLE_ADMIN = False  # billing/admin_logins.py: platform admins only, unlock audited
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "login", "password", "supervisor_password", "code"]
AXES_VERBOSE = False
# A code typed at the end of its 30-second step is still taken in the next one (RFC 6238 §5.2 allows one
# step of delay); a used code is never taken twice.
MFA_TOTP_TOLERANCE = env_int("MFA_TOTP_TOLERANCE", 1)
MFA_FORMS = {
    "authenticate": "billing.staff_auth.LockableAuthenticateForm",
    "reauthenticate": "billing.staff_auth.LockableReauthenticateForm",
}
# Two-step verification (TOTP, with recovery codes) for these roles (billing/roles.py). Every staff role moves
# money (clerks, supervisors, reconciliation officers, platform admins) or sees payers' personal data (biller
# operators, auditors), so all are required unless the environment names fewer.
# None (unset): every staff role. The names are checked when the billing app loads (billing/apps.py): a
# misspelt role would silently drop that role's second factor, so it stops the start instead.
STAFF_MFA_REQUIRED_ROLES = env_list("STAFF_MFA_REQUIRED_ROLES", None)

# --- Gateway notifications (issue 12) ---
# Alipay notifications must name this seller (the 2088… PID) when it is set; the app_id always.
ALIPAY_SELLER_ID = env_str("ALIPAY_SELLER_ID", "")
# The withholding agreement's scene code (签约场景码) that Alipay assigned at contract; an agreement that
# names our own number (external_agreement_no, the mandate) may not use Alipay's DEFAULT|DEFAULT.
ALIPAY_AGREEMENT_SIGN_SCENE = env_str("ALIPAY_AGREEMENT_SIGN_SCENE", "INDUSTRY|PUBLIC_UTILITIES")
if SANDBOX_BANK_ENABLED and not SANDBOX_BANK_KEY:
    raise ImproperlyConfigured(
        "SANDBOX_BANK_ENABLED needs SANDBOX_BANK_KEY (or SANDBOX_BANK_KEY_FILE): "
        "with DEBUG off there is no demo key"
    )

# --- Safe defaults and HTTP hardening (issue 12) ---
# With DEBUG off the platform refuses to start while anything below is unsafe: config/checks.py holds the
# rules (system check errors billpay.E001-E008, run by every management command and by config/wsgi.py).
# The sandbox bank is test money only: with DEBUG off it may run only when this says so explicitly (the deploy
# walk does; a real site never should).
ALLOW_SANDBOX_IN_PRODUCTION = env_bool("ALLOW_SANDBOX_IN_PRODUCTION", False)
# Staging and the deploy walk keep text messages as files (payers.sms.FileSMSBackend) instead of sending them.
SMS_FILE_PATH = env_str("SMS_FILE_PATH", str(BASE_DIR / "var" / "sms"))
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(BASE_DIR / "var" / "mail"))
# SMTP, for EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend.
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)

# HTTPS: on by default with DEBUG off. Behind a TLS-terminating proxy (nginx) set SECURE_PROXY_SSL_HEADER to
# the header it sets and the value meaning HTTPS, e.g. "HTTP_X_FORWARDED_PROTO,https" — and make sure the
# proxy overwrites that header, or anyone could claim HTTPS.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz(/live|/ready)?$", r"^metrics$"]  # health checks, scrapes: plain HTTP
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
_proxy_ssl_header = env_list("SECURE_PROXY_SSL_HEADER", [])
if _proxy_ssl_header and len(_proxy_ssl_header) != 2:
    raise ImproperlyConfigured(
        f"SECURE_PROXY_SSL_HEADER={','.join(_proxy_ssl_header)!r}: give a header and a value, "
        "e.g. HTTP_X_FORWARDED_PROTO,https"
    )
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) or None
# The reverse proxies in front of the platform (comma list of addresses or networks, e.g. 10.0.0.0/8). The
# client's address is then the right-most X-Forwarded-For hop that is not one of them (config/client_ip.py);
# empty: REMOTE_ADDR, and X-Forwarded-For is ignored.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])
# Or, when TRUSTED_PROXIES is empty: how many proxies every request passes (the peer being the first). Only
# when gunicorn cannot be reached except through them.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

# Content-Security-Policy (django-csp): scripts and styles from our own static files only — no inline code,
# no inline styles, no other origin. Forms may also go to Alipay's gateway when Alipay is on.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # A nonce only on a page that asks for one (Redoc's styles: templates/drf_spectacular/redoc.html).
        "style-src": ["'self'", NONCE],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}
if ALIPAY_ENABLED:
    from urllib.parse import urlsplit

    _alipay = urlsplit(ALIPAY_GATEWAY_URL)
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"].append(f"{_alipay.scheme}://{_alipay.netloc}")
if WECHATPAY_ENABLED:
    # The H5 button posts to us and is redirected to WeChat's cashier page: browsers hold the redirect of a
    # form to form-action.
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"].append("https://wx.tenpay.com")

# --- Error pages (issue 14) ---
# A refused CSRF check shows the platform's own page in the user's language (templates/403_csrf.html).
CSRF_FAILURE_VIEW = "config.views.csrf_failure"

# --- Celery as production runs it, and the transactional outbox (issue 15, items 1-2; helper i15a) ---
# Three queues, each consumed by its own worker unit (deploy/systemd/billpay-worker-<queue>.service):
#   io       calls to outside parties (webhooks, gateway refunds and queries, SMS and e-mail): many slots,
#            short limits, retried with backoff and jitter (config/retries.py);
#   batch    long jobs (imports, reconciliation, settlement, receipt bundles): one slot, long limits;
#   default  the rest (the outbox relay, sweeps, housekeeping).
# A task not named here goes to `default`. (soft, hard) time limits in seconds, per queue: the soft limit
# raises SoftTimeLimitExceeded in the task, the hard one kills the worker process (acks are late: it runs
# again elsewhere).
from kombu import Queue  # noqa: E402

CELERY_QUEUE_TASKS = {
    "io": (
        "api.tasks.deliver_webhook",
        "billing.tasks.confirm_with_biller",
        "billing.tasks.work_fiscal_receipt",
        "billing.tasks.resume_fiscal_receipts",
        "payers.tasks.refund_order_line",
        "payers.tasks.query_pending_orders",
        "payers.tasks.sandbox_bank_notify",
        "payers.tasks.send_reminders",
        "payers.tasks.run_mandate_debit",
        "payers.tasks.refund_mandate_debit",
        "payers.tasks.send_email",
        "payers.tasks.send_text_message",
        "branches.tasks.notify_recent_payers",
        "reconciliation.tasks.send_complaint_notice",
        "disputes.tasks.notify_payer",
        "reconciliation.tasks.fetch_wechat_trade_bill",
    ),
    "batch": (
        "billing.tasks.run_bill_import",
        "billing.tasks.check_ledger_integrity",
        "billing.tasks.purge_outbox",
        "api.tasks.purge_webhook_deliveries",
        "api.tasks.purge_idempotency_records",
        "payers.tasks.settle_order",
        "payers.tasks.run_mandates",
        "payers.tasks.build_receipt_bundle",
        "reconciliation.tasks.run_reconciliation",
        "reconciliation.tasks.settle_day",
        "reconciliation.tasks.nightly_reconcile",
        "reconciliation.tasks.nightly_settle",
        "reconciliation.tasks.resolve_disputed_debits",
    ),
}
CELERY_QUEUE_TIME_LIMITS = {
    "io": (env_int("CELERY_IO_SOFT_TIME_LIMIT", 60), env_int("CELERY_IO_TIME_LIMIT", 90)),
    "batch": (env_int("CELERY_BATCH_SOFT_TIME_LIMIT", 6900), env_int("CELERY_BATCH_TIME_LIMIT", 7200)),
    "default": (env_int("CELERY_DEFAULT_SOFT_TIME_LIMIT", 240), env_int("CELERY_DEFAULT_TIME_LIMIT", 300)),
}
for _queue, (_soft, _hard) in CELERY_QUEUE_TIME_LIMITS.items():
    if not 0 < _soft < _hard:
        raise ImproperlyConfigured(f"Celery {_queue} queue: the soft time limit must be below the hard one")
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = tuple(Queue(name) for name in CELERY_QUEUE_TIME_LIMITS)
CELERY_TASK_ROUTES = {task: {"queue": queue} for queue, tasks in CELERY_QUEUE_TASKS.items() for task in tasks}
CELERY_TASK_SOFT_TIME_LIMIT, CELERY_TASK_TIME_LIMIT = CELERY_QUEUE_TIME_LIMITS["default"]
CELERY_TASK_ANNOTATIONS = {
    task: dict(zip(("soft_time_limit", "time_limit"), CELERY_QUEUE_TIME_LIMITS[queue], strict=True))
    for queue, tasks in CELERY_QUEUE_TASKS.items()
    for task in tasks
}
# Redis hands an unacknowledged message (acks are late) to another worker after this many seconds: it must
# exceed the longest countdown of any retry (config/retries.py) and the longest hard time limit, or a task
# waiting out its countdown, or still running, comes back a second time.
from config import retries as _retries  # noqa: E402

CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 4 * 3600),
}
if CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] <= max(
    _retries.LONGEST_DELAY_SECONDS, *(hard for _soft, hard in CELERY_QUEUE_TIME_LIMITS.values())
):
    raise ImproperlyConfigured(
        "CELERY_VISIBILITY_TIMEOUT must exceed the longest retry countdown and the longest time limit"
    )
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = dict(CELERY_BROKER_TRANSPORT_OPTIONS)
# One beat for the whole installation: config.beat.GuardedScheduler holds a Redis lock (BEAT_LOCK_URL, the
# broker by default) whose TTL it refreshes at every tick; a second beat finds it held and refuses to start.
CELERY_BEAT_SCHEDULER = "config.beat:GuardedScheduler"
CELERY_BEAT_MAX_LOOP_INTERVAL = 15  # seconds between ticks at most, so the lock is refreshed in time
BEAT_LOCK_URL = env_str("BEAT_LOCK_URL", CELERY_BROKER_URL)
BEAT_LOCK_TTL_SECONDS = env_int("BEAT_LOCK_TTL_SECONDS", 60)
if BEAT_LOCK_TTL_SECONDS < 3 * CELERY_BEAT_MAX_LOOP_INTERVAL:
    raise ImproperlyConfigured("BEAT_LOCK_TTL_SECONDS must be at least three beat ticks (45 s)")
# The transactional outbox (billing/outbox.py): every money event is a row written with its ledger entry;
# the relay publishes it after commit, and beat runs the relay as a backstop.
CELERY_BEAT_SCHEDULE["billing-relay-outbox"] = {"task": "billing.tasks.relay_outbox", "schedule": 30.0}
# Card top-ups (billing/topups.py): a top-up not confirmed as written within its biller's timeout is voided
# and refunded; every minute, so a payer waits at most a minute past the biller's timeout.
CELERY_BEAT_SCHEDULE["billing-void-expired-topups"] = {
    "task": "billing.tasks.void_expired_topups",
    "schedule": 60.0,
}
OUTBOX_RELAY_BATCH = env_int("OUTBOX_RELAY_BATCH", 200)
# Published events are deleted this many days after publication (billing.outbox.purge_published, hourly);
# 0 keeps them all. The ledger, payments and audit log are the record; consumers keep their own copies.
OUTBOX_RETENTION_DAYS = env_int("OUTBOX_RETENTION_DAYS", 90)
if OUTBOX_RETENTION_DAYS < 0:
    raise ImproperlyConfigured("OUTBOX_RETENTION_DAYS must be 0 (keep every event) or a number of days")
CELERY_BEAT_SCHEDULE["billing-purge-outbox"] = {"task": "billing.tasks.purge_outbox", "schedule": 3600.0}
# Webhook deliveries delivered or given up on are deleted, with their attempts, this many days after they were
# made (api.webhooks.purge_finished, hourly); 0 keeps them all. One waiting or retrying is never deleted.
WEBHOOK_RETENTION_DAYS = env_int("WEBHOOK_RETENTION_DAYS", 90)
if WEBHOOK_RETENTION_DAYS < 0:
    raise ImproperlyConfigured("WEBHOOK_RETENTION_DAYS must be 0 (keep every delivery) or a number of days")
CELERY_BEAT_SCHEDULE["api-purge-webhook-deliveries"] = {
    "task": "api.tasks.purge_webhook_deliveries",
    "schedule": 3600.0,
}
# A webhook delivery is claimed for this long before it is sent; past it, a crashed sender's delivery is
# taken again (at least once). Above WEBHOOK_TIMEOUT_SECONDS and the io queue's hard time limit.
WEBHOOK_LEASE_SECONDS = env_int("WEBHOOK_LEASE_SECONDS", 120)
_lease_floor = max(WEBHOOK_TIMEOUT_SECONDS, CELERY_QUEUE_TIME_LIMITS["io"][1])
if _lease_floor >= WEBHOOK_LEASE_SECONDS:
    raise ImproperlyConfigured("WEBHOOK_LEASE_SECONDS must exceed the webhook timeout and the io time limit")
# --- end of issue 15 Celery/outbox block ---
# --- Observability (issue 15: logs, request ids, metrics, readiness, alerts) ---
# Structured logs (config/logs.py): JSON lines with DEBUG off, a readable console in the demo; LOG_FORMAT=json
# or console overrides. Every line has a timestamp, level, logger and request id (config/request_id.py).
LOG_FORMAT = env_str("LOG_FORMAT", "console" if DEBUG else "json")
if LOG_FORMAT not in ("json", "console"):
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r}: use json or console")
from config.logs import logging_settings  # noqa: E402

LOGGING = logging_settings(json=LOG_FORMAT == "json", level=env_str("LOG_LEVEL", "INFO"))
# Celery keeps Django's logging (the same structured lines) instead of installing its own handlers.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# The request id first, so that every later middleware's lines carry it; responses counted for /metrics.
MIDDLEWARE = ["config.request_id.RequestIdMiddleware", "config.metrics.CountResponsesMiddleware", *MIDDLEWARE]
# A signed API request (/api/v1/, a machine's, with no cookie, session, login or form) skips these: each does
# nothing there (config.middleware). The security headers, language, request id, response count, CSRF (an HTML
# 404 there may set its cookie), clickjacking header, CSP of a page and the 503 on Redis trouble still apply.
SIGNED_API_SKIPPED_MIDDLEWARE = [
    "config.middleware.PageWhiteNoiseMiddleware",
    "config.middleware.PageSessionMiddleware",
    "config.middleware.PageAuthenticationMiddleware",
    "config.middleware.PageMessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",  # a login's redirects and flows
    "billing.staff_auth.StaffMFAMiddleware",  # a staff session's second factor
    "axes.middleware.AxesMiddleware",  # a login form's lockout answer
]
MIDDLEWARE = ["config.middleware.SignedApiMiddleware", *MIDDLEWARE]
# /metrics (Prometheus, config/metrics.py) answers only clients in these networks (the client as
# config/client_ip.py finds it behind TRUSTED_PROXIES); everyone else gets 404.
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS", ["127.0.0.1/32", "::1/128"])
for _network in METRICS_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as _error:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {_network!r} is not a network") from _error
# Readiness (/healthz/ready, config/health.py): beat sends a heartbeat task this often; the worker that takes
# it writes the time into the cache. Older than WORKER_HEARTBEAT_MAX_AGE_SECONDS: no worker is consuming.
# Beat sends something at least every heartbeat: silent longer than BEAT_MAX_SILENCE_SECONDS, beat is down.
WORKER_HEARTBEAT_SECONDS = env_int("WORKER_HEARTBEAT_SECONDS", 30)
WORKER_HEARTBEAT_MAX_AGE_SECONDS = env_int("WORKER_HEARTBEAT_MAX_AGE_SECONDS", 120)
BEAT_MAX_SILENCE_SECONDS = env_int("BEAT_MAX_SILENCE_SECONDS", 120)
CELERY_BEAT_SCHEDULE["health-worker-heartbeat"] = {
    "task": "config.tasks.record_worker_heartbeat",
    "schedule": float(WORKER_HEARTBEAT_SECONDS),
    "options": {"expires": WORKER_HEARTBEAT_SECONDS},  # a stale heartbeat proves nothing
}
# The nightly proof that the books balance (billing/tasks.py); unbalanced raises an alert: an ERROR line,
# readiness degraded, a banner for platform admins, a mail to OPS_ALERT_EMAILS (comma list; none: no mail).
CELERY_BEAT_SCHEDULE["ledger-integrity-check"] = {
    "task": "billing.tasks.check_ledger_integrity",
    "schedule": crontab(hour=3, minute=30),
}
OPS_ALERT_EMAILS = env_list("OPS_ALERT_EMAILS", ["ops@billpay.example"] if DEBUG else [])
