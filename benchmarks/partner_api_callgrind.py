"""Instructions a partner API payment costs in the process that serves it, counted by valgrind's callgrind
(which the machine's load does not move, unlike seconds): N signed POST /api/v1/partner/payments through the
WSGI application in process, as a gunicorn worker calls it (production settings as benchmarks/partner_api.py
runs them: DEBUG off, the Redis cache, CONN_MAX_AGE, prepared statements), after W warm-ups, counting switched
on only around the N requests. With --direct, N calls of `billing.services.post_payment` instead (the floor's
other side). On the bench database of benchmarks/partner_api.py (its tables emptied and seeded again):

    export BENCH_API_DATABASE_URL=postgres://postgres@127.0.0.1:5432/billpay_bench_api
    export CACHE_URL=redis://127.0.0.1:6379/4
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=var/callgrind.api.out \
        .venv/bin/python benchmarks/partner_api_callgrind.py [--payments 200] [--warmup 20] [--direct]
    callgrind_annotate --inclusive=yes var/callgrind.api.out | head -80

The figure is valgrind's "Collected" total (the out file's `totals:`) over N; run with PYTHONHASHSEED=0 it
repeats to the thousand instructions, and alone on its Redis db (tests bumping the credential cache's version
beside it make the requests read their credentials again). Without valgrind the same
requests run uncounted (a check that every one is answered 201); --profile FILE keeps a cProfile of them
(or of the direct calls) for orientation. With --access-log each answer's gunicorn access line is
formatted and written (to /dev/null) as deploy/gunicorn.conf.py's logger does, and counted too.
"""

import argparse
import datetime
import io
import os
import subprocess
import sys
import time
from pathlib import Path

from benchdb import bench_cache_url, setup_django_on
from partner_api import ENV, PATH, seed, sign_requests

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payments", type=int, default=200, help="payments counted (200)")
    parser.add_argument("--warmup", type=int, default=20, help="payments before counting starts (20)")
    parser.add_argument("--direct", action="store_true", help="post_payment called directly, no API")
    parser.add_argument("--access-log", action="store_true", help="gunicorn's access line per answer too")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the counted requests into FILE (pstats)")
    return parser.parse_args(argv)


def under_valgrind() -> bool:
    return "vgpreload" in os.environ.get("LD_PRELOAD", "")


def instrument(on: bool) -> None:
    if under_valgrind():
        subprocess.run(
            ["callgrind_control", "-i", "on" if on else "off", str(os.getpid())],
            check=True,
            stdout=subprocess.DEVNULL,
        )


def profiled(path, function, *args):
    """function(*args), with a cProfile of it (CPU time) kept in path when one is given."""
    if not path:
        return function(*args)
    import cProfile

    profiler = cProfile.Profile(time.process_time)
    result = profiler.runcall(function, *args)
    profiler.dump_stats(path)
    return result


def environ_for(body: bytes, headers: dict) -> dict:
    """The WSGI environ gunicorn builds for this request (the keys Django and the views read)."""
    environ = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": PATH,
        "QUERY_STRING": "",
        "RAW_URI": PATH,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "40000",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_ACCEPT_ENCODING": "identity",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": None,
        "SERVER_SOFTWARE": "gunicorn/22.0.0",
    }
    for name, value in headers.items():
        if name == "Content-Type":
            environ["CONTENT_TYPE"] = value
        else:
            environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def access_logger():
    """gunicorn's logger as deploy/gunicorn.conf.py configures it, writing its lines to /dev/null."""
    from gunicorn.config import Config

    from config.logs import AccessLogger, gunicorn_logging

    config = Config()
    config.set("accesslog", os.devnull)
    config.set("errorlog", os.devnull)
    config.set("logger_class", "config.logs.AccessLogger")
    config.set("access_log_format", _gunicorn_setting("access_log_format"))
    logging = gunicorn_logging(json=True, level="WARNING")
    logging["handlers"]["console"]["stream"] = open(os.devnull, "w")  # noqa: SIM115 - the process's own
    config.set("logconfig_dict", logging)
    return AccessLogger(config)


def _gunicorn_setting(name: str):
    path = PROJECT_ROOT / "deploy" / "gunicorn.conf.py"
    namespace: dict = {"__file__": str(path)}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # our own configuration file
    return namespace[name]


def run_api(application, signed: list, log) -> list[int]:
    statuses = []
    for _ref, body, headers in signed:
        environ = environ_for(body, headers)
        answer = {}

        def start_response(status, response_headers, exc_info=None, answer=answer):
            answer["status"] = status
            answer["headers"] = response_headers

        started = time.time()
        result = application(environ, start_response)
        try:
            content = b"".join(result)
        finally:
            result.close()
        statuses.append(int(answer["status"].split()[0]))
        if log is not None:
            log.access(
                _Response(answer, content),
                _Request(environ),
                environ,
                datetime.timedelta(seconds=time.time() - started),
            )
    return statuses


class _Request:
    """What gunicorn's access atoms read of its request."""

    def __init__(self, environ):
        self.headers = [
            (key[5:].replace("_", "-"), value) for key, value in environ.items() if key.startswith("HTTP_")
        ]
        self.method, self.path, self.query, self.uri = "POST", PATH, "", PATH
        self.version = (1, 1)


class _Response:
    def __init__(self, answer, content):
        self.status = answer["status"]
        self.status_code = int(self.status.split()[0])
        self.headers = answer["headers"]
        self.sent = len(content)
        self.response_length = len(content)


def run_direct(requests: list) -> None:
    from billing.services import post_payment

    for biller_code, number, amount in requests:
        post_payment(
            channel="partner",
            idempotency_key=f"DIRECT:{number}",
            biller_code=biller_code,
            account_no=number,
            amount=amount,
            channel_ref=f"D-{number}",
        )


def main(argv=None) -> int:
    args = parse_args(argv)
    environment = {
        **ENV,
        "CACHE_URL": bench_cache_url(),
        # Signed before counting starts; valgrind makes the requests slow, not the checks different.
        "API_SIGNATURE_MAX_SKEW_SECONDS": "3600",
    }
    # As gunicorn's workers count their metrics (deploy/gunicorn.conf.py): in files of a shared directory.
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(PROJECT_ROOT / "var" / "prometheus-callgrind"))
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
    setup_django_on(
        os.environ.get("BENCH_API_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/billpay_bench_api"),
        setting="BENCH_API_DATABASE_URL",
        environment=environment,
    )
    total = args.warmup + args.payments
    api_requests, direct_requests, key_id, secret = seed(total)
    from config import local_cache
    from config.wsgi import application

    # Credentials and grants are read again every MAX_AGE_SECONDS of the clock: once in ~9,000 payments at
    # a worker's speed, but in ~60 under valgrind, whose slowness would count them 150-fold (and a varying
    # number of times, with the machine's load).
    local_cache.MAX_AGE_SECONDS = 3600

    log = access_logger() if args.access_log else None
    if args.direct:
        run_direct(direct_requests[: args.warmup])
        instrument(True)
        profiled(args.profile, run_direct, direct_requests[args.warmup :])
        instrument(False)
        print(f"post_payment direct: {args.payments} payments counted")
        return 0
    signed = sign_requests(api_requests, key_id, secret, "")
    warm = run_api(application, signed[: args.warmup], log)
    instrument(True)
    counted = profiled(args.profile, run_api, application, signed[args.warmup :], log)
    instrument(False)
    refused = [status for status in warm + counted if status != 201]
    print(f"partner API: {args.payments} payments counted, {len(refused)} of {total} not 201 {refused[:5]}")
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
