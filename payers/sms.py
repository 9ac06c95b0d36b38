"""Text messages through one small interface. The backend comes from settings (`SMS_BACKEND`): the console
in the demo, an in-memory outbox in tests, a provider's SDK in production (a class with `send_messages`)."""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TextMessage:
    to: str
    body: str


class ConsoleSMSBackend:
    """Writes each message to the log (the demo has no SMS provider)."""

    def send_messages(self, messages: list[TextMessage]) -> int:
        for message in messages:
            logger.warning("SMS to %s: %s", message.to, message.body)
        return len(messages)


outbox: list[TextMessage] = []


class LocmemSMSBackend:
    """Keeps messages in `payers.sms.outbox`, as Django's locmem mail backend does for e-mail."""

    def send_messages(self, messages: list[TextMessage]) -> int:
        outbox.extend(messages)
        return len(messages)


def send_sms(to: str, body: str) -> int:
    backend = import_string(settings.SMS_BACKEND)()
    return backend.send_messages([TextMessage(to=to, body=body)])
