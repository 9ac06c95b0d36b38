"""Text messages through one small interface. The backend comes from settings (`SMS_BACKEND`): the console
in the demo, an in-memory outbox in tests, files in staging and the deploy walk, a provider's SDK in
production (a class with `send_messages`)."""

import logging
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils import timezone
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


class FileSMSBackend:
    """Writes each message to its own file under `SMS_FILE_PATH` (staging, the deploy walk), as Django's
    file-based e-mail backend does: nothing leaves the machine, and a test or a person can read what was sent.
    The file is named `<UTC time>-<random>.txt`; its first line is `To: <number>`, then a blank line, then
    the text."""

    def __init__(self, file_path: str | None = None):
        self.directory = Path(file_path or settings.SMS_FILE_PATH)

    def send_messages(self, messages: list[TextMessage]) -> int:
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = timezone.now().strftime("%Y%m%dT%H%M%S")
        for message in messages:
            path = self.directory / f"{stamp}-{uuid.uuid4().hex}.txt"
            path.write_text(f"To: {message.to}\n\n{message.body}\n", encoding="utf-8")
        return len(messages)


def send_sms(to: str, body: str) -> int:
    backend = import_string(settings.SMS_BACKEND)()
    return backend.send_messages([TextMessage(to=to, body=body)])
