"""Language choice: pages speak Simplified Chinese unless the visitor picked English with the switch;
machine clients of /api/ get the language their Accept-Language asks for.

And the page middleware the signed open APIs skip. A request to /api/v1/ (the partner and biller APIs,
every one signed with a key, api/authentication.py) is a machine's: it carries no cookie, opens no session,
posts no form, reads no flash message and is answered in JSON. Sessions, Django's login, messages,
staff MFA, static files, and the Content-Security-Policy of its JSON answers, have nothing to do there
(a few tenths of a millisecond of every payment request's Python: docs/benchmarks.md, "Partner API"). The
security headers (HSTS, nosniff, the HTTPS redirect), the language, the request id, the response count,
CSRF's cookie, clickjacking's header and the 503 on Redis trouble still apply to every request; an HTML
page there (the site's 404) keeps its policy. The API's documentation pages (/api/docs/, /api/redoc/) are
pages and keep every middleware.

`SignedApiMiddleware`, outermost, sends a signed API request down a second chain of the same middleware
without the ones that only pages need (settings.SIGNED_API_SKIPPED_MIDDLEWARE): each layer a request only
passes through still costs a frame or two, and allauth's and axes' (a login's flows and lockout) do their
own work (a context variable; an `iscoroutinefunction` probe): 0.12 M instructions of a partner payment's
5.93 M (docs/benchmarks.md).
"""

from csp.middleware import CSPMiddleware
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.handlers.base import BaseHandler
from django.middleware.locale import LocaleMiddleware
from django.utils import translation
from whitenoise.middleware import WhiteNoiseMiddleware

SIGNED_API_PREFIX = "/api/v1/"


def is_signed_api(request) -> bool:
    return request.path_info.startswith(SIGNED_API_PREFIX)


class SignedApiMiddleware:
    """First in MIDDLEWARE: a signed API request goes through the rest of MIDDLEWARE but the skipped ones, a
    chain Django's own loader builds (its view, template-response and exception hooks too); every other
    request through all of it. Sync only, as the page middleware it skips."""

    async_capable = False

    def __init__(self, get_response):
        self.get_response = get_response
        self.signed_api_chain = _chain_without({_path(type(self)), *settings.SIGNED_API_SKIPPED_MIDDLEWARE})

    def __call__(self, request):
        if is_signed_api(request):
            return self.signed_api_chain(request)
        return self.get_response(request)


def _path(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _chain_without(skipped: set[str]):
    """MIDDLEWARE but `skipped`, loaded as Django loads MIDDLEWARE (the setting is read by its loader only,
    once, when the handler starts)."""
    handler = BaseHandler()
    full = settings.MIDDLEWARE
    settings.MIDDLEWARE = [path for path in full if path not in skipped]
    try:
        handler.load_middleware()
    finally:
        settings.MIDDLEWARE = full
    return handler._middleware_chain


class ChineseFirstLocaleMiddleware(LocaleMiddleware):
    def process_request(self, request):
        if request.path_info.startswith("/api/"):
            return super().process_request(request)
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        language = chosen if chosen in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
        return None


class _PagesOnly:
    """Mixed in before a page middleware: a signed API request passes straight through it. Sync only (under
    ASGI Django adapts it), so that the check runs on every request."""

    async_capable = False

    def __call__(self, request):
        if is_signed_api(request):
            return self.get_response(request)
        return super().__call__(request)


class PageCSPMiddleware(CSPMiddleware):
    """The policy on every response but the signed APIs' JSON answers: it governs documents, and a JSON
    answer (sent with nosniff) is never one. An HTML page under /api/v1/ (the site's 404) keeps it."""

    def process_response(self, request, response):
        if is_signed_api(request) and response.get("Content-Type", "").startswith("application/json"):
            return response
        return super().process_response(request, response)


class PageWhiteNoiseMiddleware(_PagesOnly, WhiteNoiseMiddleware):
    pass


class PageSessionMiddleware(_PagesOnly, SessionMiddleware):
    pass


class PageAuthenticationMiddleware(_PagesOnly, AuthenticationMiddleware):
    pass


class PageMessageMiddleware(_PagesOnly, MessageMiddleware):
    pass
