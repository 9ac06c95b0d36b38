"""Language choice: pages speak Simplified Chinese unless the visitor picked English with the switch;
machine clients of /api/ get the language their Accept-Language asks for.

And the page middleware the signed open APIs skip. A request to /api/v1/ (the partner and biller APIs,
every one signed with a key, api/authentication.py) is a machine's: it carries no cookie, opens no session,
posts no form, reads no flash message and is answered in JSON. Sessions, Django's login, messages,
staff MFA, static files, and the Content-Security-Policy of its JSON answers, have nothing to do there
(a few tenths of a millisecond of every payment request's Python: docs/benchmarks.md, "Partner API"). The
security headers (HSTS, nosniff, the HTTPS redirect), the language, the request id, the response count,
clickjacking's header, the login lockout and the 503 on Redis trouble still apply to every request; an HTML
page there (the site's 404) keeps its policy. The API's documentation pages (/api/docs/, /api/redoc/) are
pages and keep every middleware.
"""

from csp.middleware import CSPMiddleware
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.middleware.locale import LocaleMiddleware
from django.utils import translation
from whitenoise.middleware import WhiteNoiseMiddleware

SIGNED_API_PREFIX = "/api/v1/"


def is_signed_api(request) -> bool:
    return request.path_info.startswith(SIGNED_API_PREFIX)


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
