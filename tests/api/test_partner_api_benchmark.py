"""benchmarks/partner_api.py: the requests it signs before the clock starts are ones the API takes, and wrk
sends each of them exactly once, counts every answer that is not 201 and stops at the last answer."""

import http.client
import http.server
import itertools
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings

sys.path.insert(0, str(Path(settings.BASE_DIR) / "benchmarks"))
import partner_api  # a script beside its own modules (benchdb, tools), not a package


def parsed(raw: bytes) -> tuple[str, str, dict, bytes]:
    head, body = raw.split(b"\r\n\r\n", 1)
    request_line, *lines = head.decode().split("\r\n")
    method, path, _version = request_line.split(" ")
    return method, path, dict(line.split(": ", 1) for line in lines), body


@pytest.mark.django_db
def test_a_request_built_for_wrk_is_a_payment_the_api_takes(client, issued, bill):
    requests = [(bill.biller.code, bill.account.account_no, bill.outstanding)]
    [(ref, body, headers)] = partner_api.sign_requests(
        requests, issued.credential.key_id, issued.secret, "t-"
    )
    method, path, sent, sent_body = parsed(partner_api.raw_request(body, headers, 8000))
    assert (method, path, sent_body, int(sent["Content-Length"])) == (
        "POST",
        partner_api.PATH,
        body,
        len(body),
    )
    assert sent["Host"] == "127.0.0.1:8000"
    passed = {name: value for name, value in sent.items() if name not in ("Host", "Content-Length")}
    response = client.generic(
        method, path, sent_body, content_type=passed.pop("Content-Type"), headers=passed
    )
    assert response.status_code == 201, response.content
    assert response.json()["partner_ref"] == ref == f"A-t-{bill.account.account_no}"


class Partner(http.server.BaseHTTPRequestHandler):
    """Answers like gunicorn's sync worker (one request a connection): 201 with the partner_ref, but 409
    for accounts ending in 7."""

    protocol_version = "HTTP/1.1"
    received: Counter = Counter()

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Partner.received[self.headers["Idempotency-Key"]] += 1
        time.sleep(0.001)
        answer = json.dumps({"partner_ref": body["partner_ref"]}).encode()
        self.send_response(409 if body["account_no"].endswith("7") else 201)
        self.send_header("Content-Length", str(len(answer)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(answer)
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_wrk_sends_each_request_once_and_reports_the_refused():
    Partner.received = Counter()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Partner)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    signed = [
        (
            f"A-{n}",
            json.dumps({"account_no": f"{n:08d}", "partner_ref": f"A-{n}"}).encode(),
            {"Idempotency-Key": f"k{n}"},
        )
        for n in range(200)
    ]
    try:
        started = time.monotonic()
        result = partner_api.api_by_wrk(shutil.which("wrk"), server.server_address[1], signed, 4)
        took = time.monotonic() - started
    finally:
        server.shutdown()
        server.server_close()
    assert Partner.received == Counter({f"k{n}": 1 for n in range(200)})
    assert len(result["latencies"]) == 180  # the 201s
    assert result["problems"][-1] == "20 API requests not answered 201 Created"
    assert result["problems"][0].startswith('API answered 409 {"partner_ref": "A-7"}')
    assert 0 < result["elapsed"] < took < 30  # stopped at the last answer, not at its -d bound


# A child process (its CPU is what `http_floor` reads, as gunicorn's workers' under their master): answers
# GET /healthz/live 200, any other path 404, one request a connection.
FLOOR_SERVER = """
import http.server, sys

class Floor(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        ok = self.path == "/healthz/live" and self.headers["X-Forwarded-Proto"] == "https"
        self.send_response(200 if ok and sys.argv[1] == "ok" else 404)
        self.send_header("Content-Length", "2")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b"{}")
        self.close_connection = True

    def log_message(self, *args):
        pass

server = http.server.HTTPServer(("127.0.0.1", 0), Floor)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
@pytest.mark.parametrize("answer", ["ok", "refused"])
def test_the_http_floor_is_the_servers_cpu_a_request_answered_ok_and_none_for_a_refusal(answer):
    server = subprocess.Popen([sys.executable, "-c", FLOOR_SERVER, answer], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        floor = partner_api.http_floor(shutil.which("wrk"), port, os.getpid(), 2, seconds=1)
    finally:
        server.kill()
        server.wait()
    if answer == "refused":
        assert floor is None
    else:
        assert floor["rate"] > 50
        assert 0 < floor["cpu_ms"] < 50


def test_the_production_server_is_gunicorn_as_deploy_runs_it_and_granian_a_what_if_kept_alive():
    config = str(partner_api.PROJECT_ROOT / "deploy" / "gunicorn.conf.py")
    assert partner_api.server_command("gunicorn", 8123, 2)[1:] == ["-c", config, "config.wsgi:application"]
    granian = partner_api.server_command("granian", 8123, 3)
    options = dict(itertools.pairwise(granian))
    assert (options["--interface"], options["--host"], options["--port"], options["--workers"]) == (
        "wsgi",
        "127.0.0.1",
        "8123",
        "3",
    )
    assert "--no-http1-keep-alive" not in granian  # the what-if is the connections kept
    assert granian[-1] == "config.wsgi:application"
    assert "%(header{x-request-id})s" in options["--access-log-fmt"]


def test_granian_serves_the_application_with_production_settings_over_one_kept_connection(
    tmp_path, monkeypatch
):
    """The what-if serves the project itself (its system checks passed with DEBUG off) and keeps a
    connection open between requests, which gunicorn's sync worker never does (granian is a dev dependency:
    `make install` puts it beside gunicorn)."""
    monkeypatch.setattr(partner_api, "SERVER_LOG", tmp_path / "server.log")
    monkeypatch.setattr(partner_api, "SCRATCH", tmp_path)
    for name, value in partner_api.ENV.items():  # as the benchmark's set-up leaves its environment
        monkeypatch.setenv(name, value)
    port = partner_api.free_port()
    server = partner_api.start_server("granian", port, 1)
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        statuses, sockets = [], []
        for _ in range(2):
            connection.request("GET", "/healthz/live", headers={"X-Forwarded-Proto": "https"})
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
            sockets.append(connection.sock)  # http.client drops it when the server says it will close
        connection.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert statuses == [200, 200]
    assert sockets[0] is not None and sockets[0] is sockets[1]
    assert "GET /healthz/live" in (tmp_path / "server.log").read_text()


def test_each_round_says_how_busy_the_machine_was_and_the_machine_time_the_api_asked_over_the_posting():
    # 2,000 payments each: the direct posting in 2.0 s with 3.6 s of the 2 CPUs busy (90 %), the API in
    # 5.0 s with 4.8 s busy (48 %: half the machine idle).
    measured = {"direct_busy": 3.6, "direct_elapsed": 2.0, "api_busy": 4.8, "api_elapsed": 5.0}
    line = partner_api.machine_line(measured, 2)
    assert "machine busy: direct 90%, API 48%" in line
    assert "the direct posting's: 1.33 (at most 2.0 for the floor" in line


def test_the_warm_up_pays_its_own_accounts_before_every_round_and_none_twice():
    warmup, rounds = partner_api.round_slices(3, 4, 2)
    paid = [n for part in (warmup, *rounds) for n in range(11)[part]]
    assert list(range(11)[warmup]) == [0, 1, 2]
    assert [list(range(11)[part]) for part in rounds] == [[3, 4, 5, 6], [7, 8, 9, 10]]
    assert paid == list(range(11))
    assert partner_api.round_slices(0, 4, 1) == (slice(0, 0), [slice(0, 4)])
