"""Schemathesis against the OpenAPI schema, in-process through the WSGI app: no 500, and every answer
matches the schema (status code, content type, body). Bounded: a few examples per operation.

Requests are signed by a small WSGI middleware (the hook) with a real partner key, so the generated
requests reach the views rather than stopping at the signature check.
"""

import io
import secrets
import time
from decimal import Decimal

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIRequest
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api import services, signing
from api.models import Partner
from billing.models import BillerCategory
from tests.factories import BillerFactory, BillFactory, CustomerAccountFactory

CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


class SigningMiddleware:
    """Signs every request that comes in without a signature, as a partner's client would."""

    key_id = ""
    secret = ""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if not self.key_id:
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        path = WSGIRequest({**environ, "wsgi.input": io.BytesIO(body)}).path
        timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
        environ["HTTP_X_BILLPAY_KEY"] = self.key_id
        environ["HTTP_X_BILLPAY_TIMESTAMP"] = timestamp
        environ["HTTP_X_BILLPAY_NONCE"] = nonce
        environ["HTTP_X_BILLPAY_SIGNATURE"] = signing.sign(
            self.secret,
            method=environ["REQUEST_METHOD"],
            path=path,
            query=environ.get("QUERY_STRING", ""),
            timestamp=timestamp,
            nonce=nonce,
            body=body,
        )
        return self.app(environ, start_response)


APP = SigningMiddleware(get_wsgi_application())
# Loaded at import through the app itself (the schema view needs no database).
schema = schemathesis.openapi.from_wsgi("/api/schema/", APP)


@pytest.fixture(autouse=True)
def partner_key(db, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    water = BillerFactory(code="WATER01")
    BillFactory(
        account=CustomerAccountFactory(biller=water, account_no="31005678"), amount_due=Decimal("50.00")
    )
    partner = Partner.objects.create(code="FUZZ", name="Fuzz", rate_limit_per_minute=100_000)
    partner.allowed_categories.add(BillerCategory.objects.get(code="water"))
    issued = services.issue_credential(owner=partner, actor=admin)
    SigningMiddleware.key_id, SigningMiddleware.secret = issued.credential.key_id, issued.secret
    # As Django's test client does: the test's transaction must outlive each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)
    SigningMiddleware.key_id = SigningMiddleware.secret = ""


@schema.parametrize()
@settings(
    max_examples=5,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_answers_every_generated_request_within_its_schema(case):
    case.call_and_validate(checks=CHECKS)
