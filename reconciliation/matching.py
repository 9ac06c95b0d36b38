"""The matching engine: one statement against the platform's payments, set-based in PostgreSQL.

Passes, each on what the previous ones left:
1. channel reference (the channel's own transaction id = Payment.channel_ref);
2. merchant order number (the source's own key = the idempotency key after `<SOURCE>:`), then receipt number;
3. amount within the tolerance and time within the window — only where the line has exactly one candidate
   and the candidate exactly one line; anything else is ambiguous and goes to a person, never to a guess.
Refund lines are matched to the payment they refund (any day) by its channel reference.

Every line and every in-scope payment gets exactly one result row of one class; the non-matched ones
become discrepancies. The whole pass runs in one transaction: it either stores everything or nothing.
"""

import datetime
import time
from decimal import Decimal

from django.db import DatabaseError, connection, transaction

from billing.choices import PaymentStatus
from reconciliation.choices import LineKind, MatchClass, MatchMethod

M = MatchClass

_STEPS = [
    # Temporary tables drop at commit; inside a caller's longer transaction drop them first.
    "DROP TABLE IF EXISTS rl, rp, pairs, rr, ul, up, cand, tpairs, refunded",
    # Statement lines of this file; rn > 1 marks a repeat of a reference (a duplicate). Repeats are found by
    # a hash aggregate, not a window over a million sorted references.
    """
    CREATE TEMP TABLE rl ON COMMIT DROP AS
    SELECT l.id, l.line_no, l.kind, l.channel_ref, l.original_ref, l.merchant_ref, l.receipt_no, l.amount,
           l.occurred_at,
           CASE WHEN d.first_no IS NULL OR d.first_no = l.line_no THEN 1 ELSE 2 END AS rn,
           prior.hit IS NOT NULL AS seen_before
    FROM reconciliation_statementline l
    LEFT JOIN (
        SELECT kind, channel_ref, min(line_no) AS first_no FROM reconciliation_statementline
        WHERE statement_id = %(statement)s GROUP BY kind, channel_ref HAVING count(*) > 1
    ) d ON d.kind = l.kind AND d.channel_ref = l.channel_ref
    -- Whether an earlier reconciled file of the channel had this reference: one look-up per line in
    -- (channel_ref, statement_id) INCLUDE (kind). LATERAL … LIMIT 1 keeps it so: as a join or an EXISTS
    -- PostgreSQL read (and hashed) every line the channel ever sent, or probed this file's lines for each.
    LEFT JOIN LATERAL (
        SELECT 1 AS hit FROM reconciliation_statementline o
        WHERE o.channel_ref = l.channel_ref AND o.kind = l.kind AND o.statement_id <> %(statement)s
          AND o.statement_id IN (
              SELECT f.id FROM reconciliation_statementfile f
              JOIN reconciliation_reconciliationrun r ON r.statement_id = f.id AND r.status = 'done'
              WHERE f.channel_code = %(code)s
          )
        LIMIT 1
    ) prior ON true
    WHERE l.statement_id = %(statement)s
    """,
    # The platform's payments of this channel and day; under a repeated channel reference the first posted
    # is rn 1, the others duplicates.
    """
    CREATE TEMP TABLE rp ON COMMIT DROP AS
    WITH scope AS (
        SELECT id, channel_ref, idempotency_key, receipt_no, amount, status, posted_at FROM billing_payment
        WHERE channel = %(channel)s AND business_date = %(day)s AND idempotency_key LIKE %(prefix_like)s
    ), first_of_repeated AS (
        SELECT DISTINCT ON (channel_ref) channel_ref, id FROM scope
        WHERE channel_ref IN (
            SELECT channel_ref FROM scope WHERE channel_ref <> '' GROUP BY channel_ref HAVING count(*) > 1
        )
        ORDER BY channel_ref, posted_at, id
    )
    SELECT s.id, s.channel_ref, substr(s.idempotency_key, %(prefix_len)s + 1) AS merchant_ref, s.receipt_no,
           s.amount, s.status, s.posted_at,
           CASE WHEN f.channel_ref IS NULL OR f.id = s.id THEN 1 ELSE 2 END AS rn
    FROM scope s LEFT JOIN first_of_repeated f ON f.channel_ref = s.channel_ref
    """,
    # Temporary tables have no statistics until analysed: without them the planner picks nested loops.
    # Only the columns later steps filter or join on (each analysed column sorts the sample; the
    # references are the dear ones).
    "ANALYZE rl (id, kind, channel_ref, original_ref, rn, seen_before)",
    "ANALYZE rp (id, channel_ref, rn)",
    # A pair carries what its result needs, so the results are written from it alone.
    "CREATE TEMP TABLE pairs (line_id bigint, payment_id bigint, method varchar(16), l_amount numeric, "
    "p_amount numeric, p_status varchar(16), l_ref varchar(64)) ON COMMIT DROP",
    "CREATE TEMP TABLE rr ON COMMIT DROP AS SELECT DISTINCT original_ref FROM rl WHERE kind = 'refund'",
    # A few rows, usually: analysed, the results' join hashes these rather than the million pairs.
    "ANALYZE rr",
    # 1: channel reference
    """
    INSERT INTO pairs
    SELECT l.id, p.id, 'channel_ref', l.amount, p.amount, p.status, l.channel_ref
    FROM rl l JOIN rp p ON p.channel_ref = l.channel_ref
    WHERE l.kind = 'payment' AND l.rn = 1 AND NOT l.seen_before AND p.rn = 1 AND p.channel_ref <> ''
    """,
    "ANALYZE pairs (line_id, payment_id, method)",
    "CREATE TEMP TABLE ul ON COMMIT DROP AS SELECT l.* FROM rl l WHERE l.kind = 'payment' AND l.rn = 1 "
    "AND NOT l.seen_before AND NOT EXISTS (SELECT 1 FROM pairs WHERE pairs.line_id = l.id)",
    "CREATE TEMP TABLE up ON COMMIT DROP AS SELECT p.* FROM rp p WHERE p.rn = 1 "
    "AND NOT EXISTS (SELECT 1 FROM pairs WHERE pairs.payment_id = p.id)",
    "ANALYZE ul",
    "ANALYZE up",
    # 2: merchant order number, then receipt number — only where the number is unique on both sides
    """
    INSERT INTO pairs
    SELECT l.id, p.id, 'merchant_ref', l.amount, p.amount, p.status, l.channel_ref
    FROM ul l JOIN up p ON p.merchant_ref = l.merchant_ref
    WHERE l.merchant_ref <> ''
      AND l.merchant_ref IN (SELECT merchant_ref FROM ul GROUP BY merchant_ref HAVING count(*) = 1)
      AND p.merchant_ref IN (SELECT merchant_ref FROM up GROUP BY merchant_ref HAVING count(*) = 1)
    """,
    "DELETE FROM ul WHERE id IN (SELECT line_id FROM pairs WHERE method = 'merchant_ref')",
    "DELETE FROM up WHERE id IN (SELECT payment_id FROM pairs WHERE method = 'merchant_ref')",
    """
    INSERT INTO pairs
    SELECT l.id, p.id, 'receipt', l.amount, p.amount, p.status, l.channel_ref
    FROM ul l JOIN up p ON p.receipt_no = l.receipt_no
    WHERE l.receipt_no <> ''
      AND l.receipt_no IN (SELECT receipt_no FROM ul GROUP BY receipt_no HAVING count(*) = 1)
      AND p.receipt_no IN (SELECT receipt_no FROM up GROUP BY receipt_no HAVING count(*) = 1)
    """,
    "DELETE FROM ul WHERE id IN (SELECT line_id FROM pairs WHERE method = 'receipt')",
    "DELETE FROM up WHERE id IN (SELECT payment_id FROM pairs WHERE method = 'receipt')",
    "CREATE INDEX ON up (amount, posted_at)",
    "ANALYZE up",
    # 3: amount and time, unique both ways (tpairs: these pairs alone, for the anti-joins below)
    """
    CREATE TEMP TABLE cand ON COMMIT DROP AS
    SELECT l.id AS line_id, p.id AS payment_id FROM ul l JOIN up p
      ON p.amount BETWEEN l.amount - %(tolerance)s AND l.amount + %(tolerance)s
     AND l.occurred_at IS NOT NULL
     AND p.posted_at BETWEEN l.occurred_at - %(window)s AND l.occurred_at + %(window)s
    """,
    """
    CREATE TEMP TABLE tpairs ON COMMIT DROP AS
    SELECT c.line_id, c.payment_id FROM cand c
    WHERE (SELECT count(*) FROM cand x WHERE x.line_id = c.line_id) = 1
      AND (SELECT count(*) FROM cand y WHERE y.payment_id = c.payment_id) = 1
    """,
    """
    INSERT INTO pairs
    SELECT t.line_id, t.payment_id, 'amount_time', l.amount, p.amount, p.status, l.channel_ref
    FROM tpairs t JOIN ul l ON l.id = t.line_id JOIN up p ON p.id = t.payment_id
    """,
    # Results. Pairs: amount first, then status (reversed with us, no refund at the channel).
    """
    INSERT INTO reconciliation_matchresult
        (run_id, klass, method, line_id, payment_id, line_amount, payment_amount, candidates)
    SELECT %(run)s,
           CASE WHEN pr.l_amount <> pr.p_amount THEN 'amount_mismatch'
                WHEN pr.p_status = 'reversed' AND rr.original_ref IS NULL THEN 'status_mismatch'
                ELSE 'matched' END,
           pr.method, pr.line_id, pr.payment_id, pr.l_amount, pr.p_amount, 1
    FROM pairs pr LEFT JOIN rr ON rr.original_ref = pr.l_ref
    """,
    # Payment lines repeated in the file, or already reconciled from another statement.
    """
    INSERT INTO reconciliation_matchresult
        (run_id, klass, method, line_id, payment_id, line_amount, payment_amount, candidates)
    SELECT %(run)s, 'duplicate', '', l.id, first_pair.payment_id, l.amount, NULL, 0
    FROM rl l
    LEFT JOIN rl first ON first.kind = l.kind AND first.channel_ref = l.channel_ref AND first.rn = 1
    LEFT JOIN pairs first_pair ON first_pair.line_id = first.id
    WHERE l.kind = 'payment' AND (l.rn > 1 OR l.seen_before)
    """,
    # Payment lines with no payment: missing on the platform (candidates > 1: ambiguous). ul and up hold
    # only what the reference passes left, so the amount-and-time pairs are the only ones they can be in:
    # the anti-joins look at those few rather than hashing every pair.
    """
    INSERT INTO reconciliation_matchresult
        (run_id, klass, method, line_id, payment_id, line_amount, payment_amount, candidates)
    SELECT %(run)s, 'missing_platform', '', l.id, NULL, l.amount, NULL,
           (SELECT count(*) FROM cand c WHERE c.line_id = l.id)
    FROM ul l WHERE NOT EXISTS (SELECT 1 FROM tpairs WHERE tpairs.line_id = l.id)
    """,
    # Payments repeated on the platform under one channel reference.
    """
    INSERT INTO reconciliation_matchresult
        (run_id, klass, method, line_id, payment_id, line_amount, payment_amount, candidates)
    SELECT %(run)s, 'duplicate', '', NULL, p.id, NULL, p.amount, 0 FROM rp p WHERE p.rn > 1
    """,
    # Payments the channel has nothing for.
    """
    INSERT INTO reconciliation_matchresult
        (run_id, klass, method, line_id, payment_id, line_amount, payment_amount, candidates)
    SELECT %(run)s, 'missing_channel', '', NULL, p.id, NULL, p.amount,
           (SELECT count(*) FROM cand c WHERE c.payment_id = p.id)
    FROM up p WHERE NOT EXISTS (SELECT 1 FROM tpairs WHERE tpairs.payment_id = p.id)
    """,
    # Refund lines, against the payment they refund (any day of this channel): one scan of the payments.
    """
    CREATE TEMP TABLE refunded ON COMMIT DROP AS
    SELECT DISTINCT ON (bp.channel_ref) bp.channel_ref, bp.id, bp.amount, bp.status
    FROM billing_payment bp
    WHERE bp.channel = %(channel)s AND bp.idempotency_key LIKE %(prefix_like)s AND bp.channel_ref <> ''
      AND bp.channel_ref IN (SELECT original_ref FROM rr)
    ORDER BY bp.channel_ref, bp.posted_at, bp.id
    """,
    """
    INSERT INTO reconciliation_matchresult
        (run_id, klass, method, line_id, payment_id, line_amount, payment_amount, candidates)
    SELECT %(run)s,
           CASE WHEN l.rn > 1 OR l.seen_before THEN 'duplicate'
                WHEN p.id IS NULL THEN 'missing_platform'
                WHEN p.amount <> l.amount THEN 'amount_mismatch'
                WHEN p.status = 'posted' THEN 'status_mismatch'
                ELSE 'matched' END,
           CASE WHEN p.id IS NULL OR l.rn > 1 OR l.seen_before THEN '' ELSE 'channel_ref' END,
           l.id, p.id, l.amount, p.amount, CASE WHEN p.id IS NULL THEN 0 ELSE 1 END
    FROM rl l LEFT JOIN refunded p ON p.channel_ref = l.original_ref
    WHERE l.kind = 'refund'
    """,
    # Discrepancies: every result that is not matched.
    """
    INSERT INTO reconciliation_discrepancy
        (run_id, result_id, klass, channel_code, business_date, line_id, payment_id, biller_id,
         line_amount, payment_amount, candidates, status, resolution, resolution_note, created_at)
    SELECT r.run_id, r.id, r.klass, %(code)s, %(day)s, r.line_id, r.payment_id, bp.biller_id,
           r.line_amount, r.payment_amount, r.candidates, 'open', '', '', now()
    FROM reconciliation_matchresult r LEFT JOIN billing_payment bp ON bp.id = r.payment_id
    WHERE r.run_id = %(run)s AND r.klass <> 'matched'
    """,
]


def _set_temp_buffers(cursor) -> None:
    """Room for the temporary tables in memory (8 MB by default spills a million rows to disk). PostgreSQL
    allows it only before the session's first temporary table, so a later run on the same connection keeps
    what the first one set."""
    cursor.execute("SELECT setting FROM pg_settings WHERE name = 'temp_buffers'")
    if int(cursor.fetchone()[0]) >= 32768:  # in 8 kB pages: 256 MB
        return
    try:
        with transaction.atomic():
            cursor.execute("SET LOCAL temp_buffers = '256MB'")
    except DatabaseError:
        pass


_COUNTS_SQL = """
SELECT klass, count(*), coalesce(sum(coalesce(line_amount, payment_amount)), 0)
FROM reconciliation_matchresult WHERE run_id = %s GROUP BY klass
"""


def match_statement(
    *,
    run_id: int,
    statement_id: int,
    channel_code: str,
    channel: str,
    source: str,
    day: datetime.date,
    amount_tolerance: Decimal,
    window_seconds: int,
    timings: list | None = None,
) -> dict:
    """Store one result per line and per payment, and a discrepancy per non-matched result. The caller
    holds the transaction (and has removed any earlier, unfinished attempt's rows)."""
    params = {
        "run": run_id,
        "statement": statement_id,
        "code": channel_code,
        "channel": channel,
        "day": day,
        "prefix_len": len(source) + 1,
        "prefix_like": source.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + ":%",
        "tolerance": amount_tolerance,
        "window": datetime.timedelta(seconds=window_seconds),
    }
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '256MB'")
        # Each statement runs once over a million rows: JIT's inlining and optimisation (switched on by
        # the plans' costs) took up to 2.4 s of compiling for nothing measurable in return (issue 16).
        cursor.execute("SET LOCAL jit = off")
        _set_temp_buffers(cursor)
        for step in _STEPS:
            started = time.perf_counter()
            cursor.execute(step, params)
            if timings is not None:
                timings.append((" ".join(step.split())[:70], time.perf_counter() - started))
        cursor.execute(_COUNTS_SQL, [run_id])
        rows = cursor.fetchall()
    counts = {klass: {"count": 0, "amount": "0.00"} for klass in M.values}
    for klass, count, amount in rows:
        counts[klass] = {"count": count, "amount": str(amount)}
    return counts


__all__ = ["LineKind", "MatchMethod", "PaymentStatus", "match_statement"]
