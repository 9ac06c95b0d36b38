"""Channel codes: `ONLINE:<gateway>`, `PARTNER:<code>`, `COUNTER:<branch>`, and `AGENT:<bank>` for the
statement of the bank account agents transfer their floats to (`services.agent_topups`)."""

from dataclasses import dataclass

from billing.choices import Channel
from billing.models import IDEMPOTENCY_KEY_MAX_LENGTH
from billing.rules import normalize_code
from reconciliation.exceptions import (
    ReconciliationError,
)

CHANNEL_PREFIXES = {
    "ONLINE": Channel.ONLINE,
    "PARTNER": Channel.PARTNER,
    "COUNTER": Channel.COUNTER,
    "AGENT": Channel.AGENT,
}


@dataclass(frozen=True)
class ChannelCode:
    code: str
    channel: str
    source: str

    def posting_key(self, line) -> str:
        """The posting service's key for a payment one of this channel's statement lines names:
        `<source>:<its reference>`, a partner's as its API would have posted it (api.services), cut to the
        longest key a payment keeps."""
        return f"{self.source}:{line.merchant_ref or line.channel_ref}"[:IDEMPOTENCY_KEY_MAX_LENGTH]


def parse_channel_code(code: str) -> ChannelCode:
    """`ONLINE:<gateway>` or `PARTNER:<code>` (docs/statement-format.md); the cash channel has no file."""
    code = normalize_code(code)
    prefix, _sep, source = code.partition(":")
    if prefix not in CHANNEL_PREFIXES or not source or len(code) > 48:
        raise ReconciliationError("channel_code_invalid", channel=code)
    return ChannelCode(code=code, channel=CHANNEL_PREFIXES[prefix], source=source)
