"""Agents' float top-ups (issue 18, item 4): the statement of the bank account agents transfer their
floats to (channel code `AGENT:<bank>`, a camt.053 or the platform's CSV) is matched here instead of
against payments. A credit whose remittance information names an agent's code (AG…) is credited to that
agent's float once per bank reference (`branches.agents.credit_float`); anything else — no code, an
unknown or closed agent, two codes, money sent back — becomes a discrepancy for a person."""

import datetime
import re
from decimal import Decimal

from billing.money import ZERO
from branches import agents
from branches.choices import AgentStatus
from branches.models import Agent, FloatTopUp
from reconciliation.adapters import parse_statement
from reconciliation.choices import LineKind, MatchClass, MatchMethod
from reconciliation.models import Discrepancy, MatchResult, StatementFile, StatementLine

AGENT_CODE_IN_TEXT = re.compile(r"(?<![0-9A-Z])AG[0-9A-Z]{4,14}(?![0-9A-Z])")


def agent_codes_in(text: str) -> list[str]:
    """The agent codes a transfer's remittance text names, each once, in order."""
    return list(dict.fromkeys(AGENT_CODE_IN_TEXT.findall((text or "").upper())))


def match_float_topups(
    *,
    run_id: int,
    statement_id: int,
    channel_code: str,
    day: datetime.date,
    **_matching_options,
) -> dict:
    """One result per statement line: matched (credited to a float, now or by an earlier run of the same
    line), or a discrepancy. The caller (`runs._match`) holds the run locked in its transaction, so a
    credit and its result commit together."""
    statement = StatementFile.objects.get(pk=statement_id)
    remittance = {
        line.line_no: line.remittance
        for line in parse_statement(bytes(statement.content), statement.format).lines
    }
    lines = list(StatementLine.objects.filter(statement_id=statement_id).order_by("line_no"))
    codes = {code for line in lines for code in agent_codes_in(remittance.get(line.line_no, ""))}
    known = {agent.code: agent for agent in Agent.objects.filter(code__in=codes)}
    counts = {klass: {"count": 0, "amount": ZERO} for klass in MatchClass.values}
    for line in lines:
        klass, candidates = _credit_line(line, remittance.get(line.line_no, ""), known, day)
        result = MatchResult.objects.create(
            run_id=run_id,
            klass=klass,
            method=MatchMethod.CHANNEL_REF if klass == MatchClass.MATCHED else MatchMethod.NONE,
            line=line,
            line_amount=line.amount,
            candidates=candidates,
        )
        if klass != MatchClass.MATCHED:
            Discrepancy.objects.create(
                run_id=run_id,
                result=result,
                klass=klass,
                channel_code=channel_code,
                business_date=day,
                line=line,
                line_amount=line.amount,
                candidates=candidates,
            )
        counts[klass]["count"] += 1
        counts[klass]["amount"] += line.amount
    return {klass: {"count": c["count"], "amount": str(c["amount"])} for klass, c in counts.items()}


def _credit_line(line: StatementLine, text: str, known: dict[str, Agent], day) -> tuple[str, int]:
    """(class, candidates) of one line, crediting the float when it names exactly one open agent."""
    if line.kind != LineKind.PAYMENT:
        return MatchClass.MISSING_PLATFORM, 0  # money sent back from the float account: a person looks
    named = [known[code] for code in agent_codes_in(text) if code in known]
    if len(named) != 1 or named[0].status == AgentStatus.CLOSED:
        return MatchClass.MISSING_PLATFORM, len(named)
    earlier = FloatTopUp.objects.filter(bank_ref=line.channel_ref).first()
    if earlier is not None and earlier.statement_line_id not in (None, line.pk):
        return MatchClass.DUPLICATE, 1  # the same transfer on a second statement: credited once
    agents.credit_float(
        agent=named[0],
        amount=Decimal(line.amount),
        bank_ref=line.channel_ref,
        business_date=day,
        statement_line_id=line.pk,
    )
    return MatchClass.MATCHED, 1
