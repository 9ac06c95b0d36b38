"""Structured logs: timestamp, level, logger and request id on every line; the request id from a trusted
proxy only; one line per money action with amounts, channels and ids, never names or account numbers."""

import datetime
import io
import json
import logging
import logging.config
import os
import re
import subprocess
import sys
from decimal import Decimal

import pytest
import structlog
from django.test import override_settings
from gunicorn import glogging
from gunicorn.config import Config

from billing.services import reverse_payment
from config.logs import AccessLogger, _line_handler, gunicorn_logging
from scripts.check_deploy_env import ROOT, production_environment
from tests.factories import BillFactory
from tests.support import pay
from tests.test_deploy import gunicorn_settings

pytestmark = pytest.mark.django_db


def test_every_line_of_a_request_has_timestamp_level_logger_and_its_request_id(client, log_lines):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    request_id = response["X-Request-ID"]
    assert len(request_id) == 32
    (line,) = [line for line in log_lines() if line["logger"] == "django.request"]
    assert line["level"] == "warning"
    assert line["request_id"] == request_id
    assert line["timestamp"].endswith("Z")
    assert "exception" not in line  # a refusal is not a fault: no traceback


def test_a_request_leaves_no_request_id_behind(client):
    first = client.get("/no-such-page/")["X-Request-ID"]
    assert structlog.contextvars.get_contextvars() == {}
    assert client.get("/no-such-page/")["X-Request-ID"] != first
    assert structlog.contextvars.get_contextvars() == {}


def _formatted(*, json_lines: bool, status_code: int) -> str:
    """One django.request line about a request that failed with an exception, as the platform writes it."""
    import logging

    from config.logs import logging_settings

    spec = dict(logging_settings(json=json_lines, level="INFO")["formatters"]["structured"])
    formatter = spec.pop("()")(**spec)

    def view():
        card_number = "6222020200112233445"  # a local a traceback must not print
        raise ValueError(f"failed for a card ending {card_number[-4:]}")

    try:
        view()
    except ValueError:
        record = logging.getLogger("django.request").makeRecord(
            "django.request", logging.ERROR, __file__, 1, "Server Error: %s", ("/pay/",), sys.exc_info(),
            extra={"status_code": status_code},
        )  # fmt: skip
    return formatter.format(record)


def test_a_server_error_keeps_its_traceback_and_a_refusal_drops_it():
    assert "ValueError" in json.loads(_formatted(json_lines=True, status_code=500))["exception"]
    assert "exception" not in json.loads(_formatted(json_lines=True, status_code=403))


def test_the_demos_readable_traceback_prints_no_local_variables():
    text = _formatted(json_lines=False, status_code=500)
    assert "Traceback (most recent call last)" in text and "ValueError: failed for a card ending 3445" in text
    assert "6222020200112233445" not in text


def test_a_client_cannot_choose_its_request_id(client):
    response = client.get("/healthz/live", HTTP_X_REQUEST_ID="chosen-by-the-client-01")
    assert response["X-Request-ID"] != "chosen-by-the-client-01"


@override_settings(TRUSTED_PROXIES=["127.0.0.1/32"])
def test_the_trusted_proxy_request_id_is_kept_and_returned(client):
    response = client.get("/healthz/live", HTTP_X_REQUEST_ID="0123456789abcdef0123456789abcdef")
    assert response["X-Request-ID"] == "0123456789abcdef0123456789abcdef"


@override_settings(TRUSTED_PROXIES=["127.0.0.1/32"])
def test_a_malformed_request_id_even_from_the_proxy_is_replaced(client):
    response = client.get("/healthz/live", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert response["X-Request-ID"] != "bad id\nwith newline"
    assert len(response["X-Request-ID"]) == 32


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8"])
def test_a_request_id_from_a_peer_that_is_not_the_proxy_is_replaced(client):
    response = client.get(
        "/healthz/live", HTTP_X_REQUEST_ID="0123456789abcdef0123456789abcdef", REMOTE_ADDR="203.0.113.5"
    )
    assert response["X-Request-ID"] != "0123456789abcdef0123456789abcdef"


def _log_one_line(env) -> str:
    script = (
        "import django, logging; django.setup(); logging.getLogger('billpay.probe').warning('probe %s', 1)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stderr.strip().splitlines()[-1]


def test_production_writes_json_lines(tmp_path):
    env = production_environment(tmp_path)
    env["DATABASE_URL"] = os.environ["DATABASE_URL"]
    line = json.loads(_log_one_line(env))
    assert line["event"] == "probe 1"
    assert line["level"] == "warning"
    assert line["logger"] == "billpay.probe"
    assert line["request_id"] == "-"
    assert "timestamp" in line


def test_the_demo_writes_readable_lines():
    env = {key: value for key, value in os.environ.items() if key not in ("DEBUG", "LOG_FORMAT")}
    line = _log_one_line(env)
    assert "[warning" in line and "probe 1" in line and "[billpay.probe]" in line
    assert "request_id=-" in line


def test_a_payment_and_its_reversal_each_write_one_money_line(
    log_lines, django_capture_on_commit_callbacks, admin_user
):
    bill = BillFactory(amount_due=Decimal("58.40"))
    with django_capture_on_commit_callbacks(execute=True):
        payment = pay(bill.account, "58.40", key="log-1").payment
    with django_capture_on_commit_callbacks(execute=True):
        pay(bill.account, "58.40", key="log-1")  # a replay moves no money: no money.post line
    with django_capture_on_commit_callbacks(execute=True):
        reverse_payment(payment=payment, actor=admin_user, reason="wrong account")
    money = [line for line in log_lines() if line["logger"] == "billpay.money"]
    assert [line["event"] for line in money] == ["money.post", "money.post_replayed", "money.reverse"]
    posted, _replayed, reversed_ = money
    assert posted["amount"] == "58.40" and posted["channel"] == "online"
    assert posted["payment_id"] == payment.pk and posted["biller_id"] == bill.biller_id
    assert posted["account_id"] == bill.account_id and posted["receipt_no"] == payment.receipt_no
    assert reversed_["amount"] == "58.40" and reversed_["payment_id"] == payment.pk
    text = json.dumps(money, ensure_ascii=False)
    assert bill.account.account_no not in text  # ids only: no account number, no name
    assert bill.account.holder_name not in text


def test_a_rolled_back_payment_writes_no_money_line(log_lines):
    from django.db import transaction

    bill = BillFactory(amount_due=Decimal("10.00"))
    with transaction.atomic():
        pay(bill.account, "10.00", key="log-rollback")
        transaction.set_rollback(True)
    assert not [line for line in log_lines() if line["event"] == "money.post"]


def test_nginx_overwrites_the_request_id_a_client_sent():
    from django.conf import settings

    site = (settings.BASE_DIR / "deploy" / "nginx" / "billpay.conf").read_text()
    assert "proxy_set_header X-Request-ID $request_id;" in site


class _Message:
    """What gunicorn's atoms read of its request and response objects."""

    def __init__(self, headers, **attributes):
        self.headers = headers
        self.__dict__.update(attributes)


def _access_atoms(logger_class, access_log_format: str):
    config = Config()
    config.set("access_log_format", access_log_format)
    logger = logger_class(config)
    atoms = glogging.SafeAtoms(logger.atoms(*_access_of_a_payment()))
    atoms["t"] = "[04/Dec/2026:17:00:00 +0000]"  # the clock, not the logger
    return atoms


def _access_of_a_payment():
    """gunicorn's response, request, environ and time taken of a partner payment."""
    request = _Message(
        [
            ("HOST", "bills.example"),
            ("X-FORWARDED-FOR", "203.0.113.7"),
            ("USER-AGENT", 'partner-client/1.0 "quoted"'),
            ("REFERER", "https://partner.example/"),
            ("X-BILLPAY-KEY", "ak_123"),
        ]
    )
    response = _Message(
        [("Content-Type", "application/json"), ("X-Request-ID", "f" * 32), ("Vary", "Accept")],
        status="201 Created",
        sent=356,
    )
    environ = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": "/api/v1/partner/payments",
        "PATH_INFO": "/api/v1/partner/payments",
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_USER_AGENT": 'partner-client/1.0 "quoted"',
        "HTTP_REFERER": "https://partner.example/",
        "HTTP_X_FORWARDED_FOR": "203.0.113.7",
        "wsgi.url_scheme": "https",
    }
    took = datetime.timedelta(microseconds=8123)
    return response, request, environ, took


@pytest.mark.parametrize(
    "access_log_format",
    [
        # deploy/gunicorn.conf.py's
        '%({x-forwarded-for}i)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(L)s',
        # every kind of atom, named in another case, and ones the request has not
        "%(h)s %({Host}i)s %({x-missing}i)s %({content-type}o)s %({wsgi.url_scheme}e)s %({NOPE}e)s %(D)s",
    ],
)
def test_the_access_line_is_gunicorns_own(access_log_format):
    ours = _access_atoms(AccessLogger, access_log_format)
    theirs = _access_atoms(glogging.Logger, access_log_format)
    assert access_log_format % ours == access_log_format % theirs
    assert ours["{x-request-id}o"] == "f" * 32  # the line's request id (config.logs)
    assert len(ours) < len(theirs)  # and no atom of every header and variable


def test_gunicorn_runs_with_the_access_logger():
    assert gunicorn_settings().logger_class == "config.logs.AccessLogger"


@pytest.fixture
def gunicorn_lines(monkeypatch, settings):
    """gunicorn's logger of a class, set up as deploy/gunicorn.conf.py sets it (JSON or console lines), its
    handler writing into a buffer; Django's logging is put back afterwards."""
    monkeypatch.setattr(glogging.Logger, "now", lambda self: "[04/Dec/2026:17:00:00 +0000]")

    def access_line(logger_class, *, json_lines: bool, change=None, access_log_format=None) -> str:
        buffer = io.StringIO()
        logging_config = gunicorn_logging(json=json_lines, level="INFO")
        logging_config["handlers"]["console"]["stream"] = buffer
        config = Config()
        config.set("access_log_format", access_log_format or gunicorn_settings().access_log_format)
        config.set("logconfig_dict", logging_config)
        logger = logger_class(config)
        if change:
            change(logger)
        logger.access(*_access_of_a_payment())
        # the time structlog stamps, not the logger's
        return re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+Z", "<now>", buffer.getvalue())

    yield access_line
    logging.config.dictConfig(settings.LOGGING)


EVERY_KIND_OF_ATOM = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(m)s %(U)s %(q)s %(H)s %(b)s %(B)s "%(f)s" "%(a)s" '
    '%(T)s %(D)s %(M)s %(L)s %({Host}i)s "%({user-agent}i)s" %({x-missing}i)s %({content-type}o)s '
    "%({wsgi.url_scheme}e)s %({NOPE}e)s %(zz)s %% %(a)s"
)


@pytest.mark.parametrize("access_log_format", [None, EVERY_KIND_OF_ATOM])
@pytest.mark.parametrize("json_lines", [True, False])
def test_the_access_line_rendered_straight_is_the_one_logging_writes(
    gunicorn_lines, json_lines, access_log_format
):
    ours = gunicorn_lines(AccessLogger, json_lines=json_lines, access_log_format=access_log_format)
    assert _line_handler(logging.getLogger("gunicorn.access")) is not None  # rendered straight
    assert ours == gunicorn_lines(glogging.Logger, json_lines=json_lines, access_log_format=access_log_format)
    assert ours.count("\n") == 1 and "f" * 32 in ours  # one line, with the request id


def test_an_access_log_set_up_otherwise_goes_through_logging(gunicorn_lines):
    def second_handler(logger):
        logger.access_log.addHandler(logging.StreamHandler(io.StringIO()))

    line = gunicorn_lines(AccessLogger, json_lines=True, change=second_handler)
    assert line == gunicorn_lines(glogging.Logger, json_lines=True)
    assert _line_handler(logging.getLogger("gunicorn.access")) is not None  # set up as deployed again
    logging.getLogger("gunicorn.access").addHandler(logging.NullHandler())
    assert _line_handler(logging.getLogger("gunicorn.access")) is None
