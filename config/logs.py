"""Structured logs: every line, ours or a library's, carries a timestamp, its level, its logger and the
request id of the request (or the task the request started) it belongs to.

JSON lines in production (one object per line, for journald and a log shipper); a readable console in the
demo. `logging_settings()` builds the `LOGGING` dictionary from config/settings.py; `structlog` is configured
here once so that `structlog.get_logger()` and the standard library's `logging.getLogger()` render alike.
"""

import functools
import logging
import re
import traceback
from collections.abc import Mapping

import structlog
from celery import signals as celery_signals
from gunicorn import glogging

NO_REQUEST = "-"  # the request id of a line written outside any request or task (start-up, beat)


def _default_request_id(logger, method_name, event_dict):
    """The bound request id; else that of the request a standard library record names (Django logs a
    failed response after the middleware has returned); else "-"."""
    if "request_id" not in event_dict:
        request = getattr(event_dict.get("_record"), "request", None)
        event_dict["request_id"] = getattr(request, "request_id", None) or NO_REQUEST
    return event_dict


def _gunicorn_access_request_id(logger, method_name, event_dict):
    """gunicorn's access line names the request id Django returned (its X-Request-ID response header).

    structlog empties a foreign record's args before this chain runs; the formatter passes them along as
    `positional_args` (pass_foreign_args), which are dropped here so that no line carries them."""
    if event_dict.get("_from_structlog") is False:
        atoms = event_dict.pop("positional_args", None)
        record = event_dict.get("_record")
        if record is not None and record.name == "gunicorn.access" and isinstance(atoms, dict):
            request_id = atoms.get("{x-request-id}o")
            if request_id and request_id != "-":
                event_dict.setdefault("request_id", request_id)
    return event_dict


def _no_traceback_for_a_refused_request(logger, method_name, event_dict):
    """Django logs every 4xx answer ("Forbidden", "Not Found") with the exception that made it: a refusal is
    not a fault, and its traceback only hides the real ones (and rendering them cost seconds each)."""
    record = event_dict.get("_record")
    if (
        record is not None
        and record.name == "django.request"
        and 400 <= getattr(record, "status_code", 500) < 500
    ):
        event_dict.pop("exc_info", None)
    return event_dict


def _shared_processors() -> list:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _gunicorn_access_request_id,
        _default_request_id,
        _no_traceback_for_a_refused_request,
    ]


def configure_structlog() -> None:
    """structlog hands its events to the standard library, whose handlers (LOGGING) render them."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


class LineFormatter(structlog.stdlib.ProcessorFormatter):
    """structlog's formatter, which can also render a foreign line without a `LogRecord` (gunicorn's access
    line, `AccessLogger.access`): the same event dict and processors as `format` gives them for a record of
    the standard library, with `_record` a bare stand-in that carries its logger's name."""

    def foreign_line(self, logger_name: str, level: str, message: str, args) -> str:
        event = {"event": message, "_record": _ForeignRecord(logger_name), "_from_structlog": False}
        if self.pass_foreign_args:
            event["positional_args"] = args
        for processor in self.foreign_pre_chain or ():
            event = processor(self.logger, level, event)
        for processor in self.processors:
            event = processor(self.logger, level, event)
        return event


class _ForeignRecord:
    """What the processors read of a record that is not there (`getattr` with a default finds the rest
    missing, as on a record that has not the attribute)."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name


def _formatter(renderer, *, json: bool) -> dict:
    return {
        "()": LineFormatter,
        "foreign_pre_chain": _shared_processors(),
        "pass_foreign_args": True,
        "processors": [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # JSON needs the traceback as text; the console renderer formats it itself.
            *(
                [structlog.processors.format_exc_info]
                if isinstance(renderer, structlog.processors.JSONRenderer)
                else []
            ),
            renderer,
        ],
    }


def logging_settings(*, json: bool, level: str) -> dict:
    """The LOGGING setting: one handler on the root logger, JSON or console lines."""
    if level.upper() not in logging.getLevelNamesMapping():
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"LOG_LEVEL={level!r} is not a logging level (DEBUG, INFO, WARNING…)")
    configure_structlog()
    renderer = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json
        # A plain traceback: rich's pretty one with local variables writes secrets into the log and took
        # seconds of CPU for each.
        else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"structured": _formatter(renderer, json=json)},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level.upper()},
        # Django's own request lines duplicate gunicorn's access log; keep its warnings and errors.
        "loggers": {"django.server": {"level": "WARNING"}},
    }


def gunicorn_logging(*, json: bool, level: str) -> dict:
    """gunicorn's `logconfig_dict` (deploy/gunicorn.conf.py): its error and access lines in the same format,
    the access line with the request's id."""
    config = logging_settings(json=json, level=level)
    config["loggers"] = {
        name: {"handlers": ["console"], "level": "INFO", "propagate": False}
        for name in ("gunicorn.error", "gunicorn.access")
    }
    return config


@celery_signals.setup_logging.connect(dispatch_uid="billpay.logs.celery")
def _leave_logging_to_django(**kwargs) -> None:
    """A receiver here tells Celery (worker and beat) not to install its own handlers or levels: the lines
    keep Django's LOGGING above (configured when Django is set up), with the LOG_LEVEL it names."""


# --- gunicorn's access line --------------------------------------------------------------------------------

_VARIABLE_ATOM = re.compile(r"%\(\{([^}]*)\}([ioe])\)")


class AccessLogger(glogging.Logger):
    """gunicorn's logger (deploy/gunicorn.conf.py, `logger_class`), whose access line is built from the
    header and environ atoms its format names, and the response's X-Request-ID (which the line carries,
    `_gunicorn_access_request_id`): gunicorn's own made an atom of every request header, response header
    and environ variable, and escaped each, for every line (a few per cent of a partner API payment's
    CPU in the worker). The line is the same: every other atom is gunicorn's, and an atom the format names
    that the request has not is "-" as before."""

    def access(self, resp, req, environ, request_time):
        """gunicorn's `access`, with the line rendered by the one handler straight from the atoms when
        that handler is our plain stream of structured lines (`_line_handler`): no `LogRecord` (made twice:
        structlog copies it), no search for the caller's frame, no walk of the logger's handlers; the same
        line, written as `StreamHandler.emit` writes it. Any other set-up goes through `logging`."""
        if not self.access_log_enabled:
            return
        handler = _line_handler(self.access_log)
        if handler is None:
            return super().access(resp, req, environ, request_time)
        try:
            fmt = self.cfg.access_log_format
            atoms = self.atoms(resp, req, environ, request_time)
            try:
                safe_atoms = _safe_named_atoms(atoms, _named_atoms(fmt))
                message = fmt % safe_atoms
            except KeyError:  # a name the parse missed: gunicorn's wrapper answers every name
                safe_atoms = self.atoms_wrapper_class(atoms)
                message = fmt % safe_atoms
            line = handler.formatter.foreign_line(self.access_log.name, "info", message, safe_atoms)
            with handler.lock:
                handler.stream.write(line + handler.terminator)
                handler.flush()
        except Exception:
            self.error(traceback.format_exc())

    def atoms(self, resp, req, environ, request_time):
        named = _variable_atoms(self.cfg.access_log_format)
        return super().atoms(
            _Headers(resp, named["o"] | {"x-request-id"}),
            _Headers(req, named["i"]),
            _Environ(environ, named["e"]),
            request_time,
        )


def _line_handler(logger: logging.Logger) -> logging.StreamHandler | None:
    """The logger's one handler when an INFO line of it goes to that handler alone and is rendered by
    `LineFormatter` as its `%(message)s`, unfiltered; else None."""
    handlers = logger.handlers
    if len(handlers) != 1 or logger.filters or logger.propagate or not logger.isEnabledFor(logging.INFO):
        return None
    handler = handlers[0]
    if (
        type(handler) is not logging.StreamHandler
        or handler.filters
        or handler.level > logging.INFO
        or type(handler.formatter) is not LineFormatter
        or handler.formatter._fmt != "%(message)s"
        or handler.formatter.keep_exc_info
        or handler.formatter.keep_stack_info
    ):
        return None
    return handler


@functools.lru_cache(maxsize=8)
def _named_atoms(access_log_format: str) -> tuple[tuple[str, str], ...]:
    """The atom names a format reads (`%(name)…`), and the request id's (`_gunicorn_access_request_id`), each
    with the key gunicorn's atoms hold it under (a header or variable atom by its lower-cased name)."""
    names = (*dict.fromkeys(re.findall(r"%\(([^()]*)\)", access_log_format)), "{x-request-id}o")
    return tuple((name, name.lower() if name.startswith("{") else name) for name in names)


def _safe_named_atoms(atoms: dict, names: tuple[tuple[str, str], ...]) -> dict:
    """What gunicorn's `SafeAtoms` answers for each of `names` (a text's double quotes escaped, a missing
    atom "-"), worked out for these names only."""
    safe = {}
    for name, key in names:
        value = atoms.get(key, "-")
        safe[name] = value.replace('"', '\\"') if isinstance(value, str) else value
    return safe


@functools.lru_cache(maxsize=8)
def _variable_atoms(access_log_format: str) -> dict[str, frozenset]:
    """The lower-cased names of the `%({name}i)s`, `%({name}o)s` and `%({name}e)s` atoms of a format."""
    found = {"i": set(), "o": set(), "e": set()}
    for name, kind in _VARIABLE_ATOM.findall(access_log_format):
        found[kind].add(name.lower())
    return {kind: frozenset(names) for kind, names in found.items()}


class _Headers:
    """A gunicorn request or response whose `headers` hold only the named ones."""

    def __init__(self, message, names: frozenset):
        self._message = message
        self.headers = [(key, value) for key, value in message.headers if key.lower() in names]

    def __getattr__(self, name):
        return getattr(self._message, name)


class _Environ(Mapping):
    """The request's environ, of which `items()` (the environ atoms) gives only the named variables."""

    def __init__(self, environ: dict, names: frozenset):
        self._environ = environ
        self._names = names
        self.get = environ.get  # gunicorn's atoms call it for each of theirs: the dict's own, not a frame

    def __getitem__(self, key):
        return self._environ[key]

    def __iter__(self):
        return iter(self._environ)

    def __len__(self):
        return len(self._environ)

    def items(self):
        if not self._names:  # the usual format names no environ atom: the environ is not walked
            return ()
        return [(key, value) for key, value in self._environ.items() if key.lower() in self._names]
