"""Settings for the bill-payment platform.

Every value comes from the environment with a default that is safe for the demo (`make run`): SQLite,
Celery tasks run eagerly, DEBUG on. Production sets DATABASE_URL, CELERY_BROKER_URL, SECRET_KEY (or
SECRET_KEY_FILE), DEBUG=false and CELERY_TASK_ALWAYS_EAGER=false.
"""

from decimal import Decimal
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
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
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "import_export",
    "billing",
    "payers",
    "branches",
    "reconciliation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "config.middleware.ChineseFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
            ],
        },
    },
]

# Database: SQLite for the demo; PostgreSQL everywhere money is tested or served.
# Reusing connections matters: without it a database page was 4x slower on the 2-core machine.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
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
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

LOGIN_URL = "admin:login"

# Celery: Redis is the broker in tests and production; the demo runs tasks eagerly in-process.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", "redis://127.0.0.1:6379/1")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", True)
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
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
elif CACHE_URL == "locmem://":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    raise ImproperlyConfigured(f"CACHE_URL={CACHE_URL!r}: use redis://host:port/db or locmem://")

# Pay links (/pay/<token>/, printed as QR codes on bills and slips) expire after this many days.
PAY_LINK_MAX_AGE_DAYS = env_int("PAY_LINK_MAX_AGE_DAYS", 120)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}

# The platform's name as citizens and staff see it.
PLATFORM_NAME = _("Open Bill Payment Platform")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)

# Reconciliation and settlement (reconciliation app).
RECON_AMOUNT_TOLERANCE = Decimal(env_str("RECON_AMOUNT_TOLERANCE", "0.00"))
RECON_TIME_WINDOW_SECONDS = env_int("RECON_TIME_WINDOW_SECONDS", 900)
RECON_COMPLAINT_RESPONSE_HOURS = env_int("RECON_COMPLAINT_RESPONSE_HOURS", 48)
RECON_INBOX_DIR = env_str("RECON_INBOX_DIR", str(BASE_DIR / "var" / "statements"))
if RECON_AMOUNT_TOLERANCE < 0 or RECON_AMOUNT_TOLERANCE.quantize(Decimal("0.01")) != RECON_AMOUNT_TOLERANCE:
    raise ImproperlyConfigured("RECON_AMOUNT_TOLERANCE must be 0 or more with at most two decimals")
CELERY_BEAT_SCHEDULE = {
    **globals().get("CELERY_BEAT_SCHEDULE", {}),
    "reconcile-yesterday": {
        "task": "reconciliation.tasks.nightly_reconcile",
        "schedule": crontab(hour=2, minute=30),
    },
    "settle-yesterday": {
        "task": "reconciliation.tasks.nightly_settle",
        "schedule": crontab(hour=5, minute=0),
    },
}
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "noreply@billpay.example.com")
# Branches and the cash channel (branches app).
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")  # for links in e-mails and on printed slips
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "noreply@billpay.example.com")
BRANCH_CLOSURE_NOTICE_DAYS = env_int("BRANCH_CLOSURE_NOTICE_DAYS", 7)  # a planned closure's least notice
BRANCH_NOTICE_RECENT_DAYS = env_int("BRANCH_NOTICE_RECENT_DAYS", 90)  # payers told of an outlet's closure
CELERY_BEAT_SCHEDULE = globals().get("CELERY_BEAT_SCHEDULE", {})
CELERY_BEAT_SCHEDULE["branches-apply-due-closures"] = {
    "task": "branches.tasks.apply_due_closures",
    "schedule": 3600.0,
}
