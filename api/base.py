"""What every view of the open APIs shares: signed requests, per-caller limits, JSON errors."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from api.authentication import BILLER, PARTNER, ApiPrincipal, SignedRequestAuthentication
from api.errors import api_exception_handler
from api.exceptions import ApiError
from api.throttling import CallerRateThrottle


class AlwaysJson(BaseContentNegotiation):
    """The APIs answer JSON whatever Accept says (the statement download returns its CSV itself)."""

    def select_parser(self, request, parsers):
        for parser in parsers:
            if request.content_type.split(";")[0].strip() in ("", parser.media_type):
                return parser
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class _IsKind(BasePermission):
    kind = ""

    def has_permission(self, request, view):
        principal = request.user
        if not isinstance(principal, ApiPrincipal):
            return False
        if principal.kind != self.kind:
            raise ApiError("wrong_api", kind=_("partner") if principal.kind == PARTNER else _("biller"))
        return True


class IsPartner(_IsKind):
    kind = PARTNER


class IsBiller(_IsKind):
    kind = BILLER


class SignedApiView(APIView):
    authentication_classes = [SignedRequestAuthentication]
    throttle_classes = [CallerRateThrottle]
    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]
    content_negotiation_class = AlwaysJson

    def get_exception_handler(self):
        return api_exception_handler

    def get_authenticate_header(self, request):
        return "BILLPAY-HMAC-SHA256"


class PartnerView(SignedApiView):
    permission_classes = [IsPartner]

    @property
    def partner(self):
        return self.request.user.partner


class BillerView(SignedApiView):
    permission_classes = [IsBiller]

    @property
    def biller_access(self):
        return self.request.user.biller_access


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable code, e.g. signature_invalid.")
    message = serializers.CharField(help_text="Human message in the Accept-Language (zh-hans or en).")
    details = serializers.DictField(required=False)


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


ERRORS = {status: ErrorSerializer for status in (400, 401, 403, 404, 409, 422, 429)}

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=True,
    description="One new key per new request (1-100 printable characters). A retry with the same key and "
    "body gets the first answer; with a different body, 409 idempotency_key_reused.",
)


class SignedRequestScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.SignedRequestAuthentication"
    name = "BillPaySignature"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-BillPay-Key",
            "description": "Key id in X-BillPay-Key, plus X-BillPay-Timestamp, X-BillPay-Nonce and "
            "X-BillPay-Signature = hex HMAC-SHA256(secret, string to sign). See docs/partner-api.md.",
        }
