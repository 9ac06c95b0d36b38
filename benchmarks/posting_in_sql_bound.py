"""How far the one structural lever left for `post_payment` could go: the posting decided inside PostgreSQL.

A sizing experiment on the province, not a posting path. `post_payment` decides each payment in Python
between two round trips (lock, then write); every cheaper lever has been measured (docs/benchmarks.md,
issue 16) and what is left is that Python and the round trips. This runs the simplest payment, decided and
written by one PL/pgSQL function in one round trip, from the same 8 processes that
benchmarks/post_payments.py uses, and prints its rate beside pgbench's in the same run:

    BENCH_PROVINCE_DATABASE_URL=postgres://postgres@127.0.0.1:5432/billpay_bench_province \\
        .venv/bin/python benchmarks/posting_in_sql_bound.py [--payments 8000]

The function does what `post_payment` does for the one case the province's benchmark pays (an online
payment of an account's oldest open bill, exactly, not yet due, at an active biller billed by statement,
with no live link, no co-beneficiaries and no late fee): it locks the account, looks the key up, locks and
pays the bill, and writes the payment, its allocation, its balanced journal entry and its outbox event,
under the province's own triggers and foreign keys. It leaves out everything else `post_payment` decides:
`billing.amounts`' pricing (late fees, discounts, instalments), partial and over-payments, shares, top-ups,
live billers, the audit row and a caller's kept row, and the worded refusals. So its rate is a bound on
what the lever could give, not a figure for the product: a posting decided in SQL would need a second
copy of those rules, or a fast path that hands every other case back to Python.

The function lives in each connection's own temporary schema (`pg_temp`) and goes with it: nothing of it
stays in the province, only the payments it wrote, as every --province benchmark leaves its rows.
"""

import argparse
import hashlib
import json
import multiprocessing
import os
import random
import sys
import time
import uuid

import psycopg
from benchdb import PROVINCE_DEFAULT_URL, print_checks
from post_payments import hold_run_lock, run_pgbench
from procstat import proc_cpu_seconds
from psycopg.conninfo import conninfo_to_dict

WORKERS = 8
CHANNEL = "online"
COLLECTION = "CLEARING:ONLINE"  # billing.ledger.CLEARING_CODES[online]

_FUNCTION = """
CREATE FUNCTION pg_temp.post_simple_payment(
    p_key text, p_biller text, p_account text, p_amount numeric, p_receipt text, p_fingerprint text,
    p_event_id uuid
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    acc record; bill record;
    v_collection bigint; v_payable bigint; v_payment bigint; v_entry bigint;
    v_now timestamptz := now(); v_day date := (now() AT TIME ZONE 'Asia/Shanghai')::date;
BEGIN
    SELECT a.id, a.biller_id, b.status, b.payment_mode,
        (SELECT l.mode IN ('fetch', 'validate') FROM billing_billerlink l WHERE l.biller_id = b.id) AS live,
        EXISTS (SELECT 1 FROM billing_collectionshare s WHERE s.biller_id = b.id AND s.active) AS shares
    INTO acc
    FROM billing_customeraccount a JOIN billing_biller b ON b.id = a.biller_id
    WHERE b.code = p_biller AND a.account_no = p_account
    FOR UPDATE OF a;
    IF NOT FOUND THEN RETURN -1; END IF;
    IF acc.status <> 'active' OR acc.payment_mode <> 'statement' OR coalesce(acc.live, false) OR acc.shares
    THEN
        RETURN -2;  -- Python's case
    END IF;
    IF EXISTS (SELECT 1 FROM billing_payment WHERE channel = 'online' AND idempotency_key = p_key) THEN
        RETURN -3;  -- a replay
    END IF;
    SELECT * INTO bill FROM billing_bill
    WHERE account_id = acc.id AND status IN ('open', 'partly_paid')
    ORDER BY due_date, period, id LIMIT 1
    FOR UPDATE;
    IF NOT FOUND OR bill.amount_due + bill.late_fee - bill.discount_granted - bill.amount_paid <> p_amount
        OR bill.due_date < v_day OR bill.late_fee <> 0
    THEN
        RETURN -4;  -- Python's case (pricing)
    END IF;
    SELECT id INTO v_collection FROM billing_ledgeraccount WHERE code = 'CLEARING:ONLINE';
    SELECT id INTO v_payable FROM billing_ledgeraccount WHERE code = 'PAYABLE:' || p_biller;
    INSERT INTO billing_payment (receipt_no, channel, idempotency_key, request_fingerprint, channel_ref,
        biller_id, account_id, payer_id, branch_id, actor_id, amount, status, business_date, posted_at,
        reversal_reason)
    VALUES (p_receipt, 'online', p_key, p_fingerprint, '', acc.biller_id, acc.id, NULL, NULL, NULL,
        p_amount, 'posted', v_day, v_now, '')
    RETURNING id INTO v_payment;
    INSERT INTO billing_paymentallocation (payment_id, bill_id, kind, amount, is_reversal)
    VALUES (v_payment, bill.id, 'bill', p_amount, false);
    UPDATE billing_bill SET amount_paid = amount_paid + p_amount, status = 'paid', updated_at = v_now
    WHERE id = bill.id;
    INSERT INTO billing_journalentry (kind, payment_id, reverses_id, memo, business_date, created_at,
        created_by_id)
    VALUES ('payment', v_payment, NULL, p_receipt, v_day, v_now, NULL)
    RETURNING id INTO v_entry;
    INSERT INTO billing_journalline (entry_id, account_id, amount)
    VALUES (v_entry, v_collection, p_amount), (v_entry, v_payable, -p_amount);
    INSERT INTO billing_outboxevent (id, type, aggregate_type, aggregate_id, payload, created_at)
    VALUES (p_event_id, 'payment.posted', 'payment', v_payment::text,
        jsonb_build_object('receipt_no', p_receipt, 'biller', p_biller, 'account_no', p_account,
            'amount', p_amount::text, 'channel', 'online', 'business_date', v_day::text,
            'bills', jsonb_build_array(jsonb_build_object('period', bill.period, 'amount', p_amount::text))),
        v_now);
    RETURN v_payment;
END $$
"""
_CALL = "SELECT pg_temp.post_simple_payment(%s, %s, %s, %s, %s, %s, %s)"

# Accounts whose oldest open bill is of the last period, not yet due, without a late fee, at active
# statement billers of the province with no live link and no co-beneficiaries: the function's one case.
_PICK = """
SELECT b.code, a.account_no, o.amount_due - o.discount_granted - o.amount_paid
FROM (
    SELECT bill.account_id FROM billing_bill bill JOIN billing_biller br ON br.id = bill.biller_id
    WHERE bill.period = %(period)s AND bill.status IN ('open', 'partly_paid') AND br.status = 'active'
        AND br.code ~ '^PROV' AND br.payment_mode = 'statement'
        AND NOT EXISTS (SELECT 1 FROM billing_billerlink l WHERE l.biller_id = br.id)
        AND NOT EXISTS (SELECT 1 FROM billing_collectionshare s WHERE s.biller_id = br.id AND s.active)
    ORDER BY md5(bill.account_id::text || %(salt)s) LIMIT %(asked)s
) picked
JOIN billing_customeraccount a ON a.id = picked.account_id
JOIN billing_biller b ON b.id = a.biller_id
CROSS JOIN LATERAL (
    SELECT * FROM billing_bill o WHERE o.account_id = a.id AND o.status IN ('open', 'partly_paid')
    ORDER BY o.due_date, o.period, o.id LIMIT 1
) o
WHERE o.period = %(period)s AND o.due_date >= current_date AND o.late_fee = 0
"""


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payments", type=int, default=8000, help="payments to post (8000)")
    parser.add_argument("--pgbench-seconds", type=int, default=10, help="pgbench's run beside it (10)")
    return parser.parse_args(argv)


def pick(url: str, count: int, salt: str) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        (period,) = conn.execute(
            "SELECT max(period) FROM billing_bill WHERE biller_id = "
            "(SELECT id FROM billing_biller WHERE code = 'PROVGRID')"
        ).fetchone()
        rows = conn.execute(_PICK, {"period": period, "salt": salt, "asked": count * 2}).fetchall()
    random.Random(salt).shuffle(rows)
    return rows[:count]


def worker(url, requests, key_prefix, barrier, results) -> None:
    """Post `requests` one at a time, each its own transaction in one round trip (autocommit); report the
    outcomes and the CPU of this process and of its backend."""
    conn = psycopg.connect(url, autocommit=True)
    conn.execute(_FUNCTION)
    backend = conn.info.backend_pid
    cursor = conn.cursor()
    for n in range(6):  # past psycopg's prepare threshold and PostgreSQL's custom plans
        cursor.execute(_CALL, [f"{key_prefix}warm", "NONE", str(n), 1, "", "", uuid.uuid4()], prepare=True)
    barrier.wait()
    own, its = proc_cpu_seconds(os.getpid()), proc_cpu_seconds(backend)
    outcomes: dict[str, int] = {}
    for code, number, amount in requests:
        # What post_payment computes before its statement: the fingerprint, a receipt number, the event id.
        canonical = {"biller": code, "account_no": number, "amount": str(amount), "periods": []}
        fingerprint = hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()
        receipt = "S" + uuid.uuid4().hex[:19].upper()
        params = [f"{key_prefix}{code}-{number}", code, number, amount, receipt, fingerprint, uuid.uuid4()]
        cursor.execute(_CALL, params, prepare=True)
        (outcome,) = cursor.fetchone()
        name = "posted" if outcome > 0 else f"refused {outcome}"
        outcomes[name] = outcomes.get(name, 0) + 1
    results.put((outcomes, proc_cpu_seconds(os.getpid()) - own, proc_cpu_seconds(backend) - its))
    conn.close()


def check_books(url: str, key_prefix: str, posted: int) -> list[tuple[str, bool, str]]:
    with psycopg.connect(url, autocommit=True) as conn:
        payments, entries, unbalanced, bills_paid = conn.execute(
            """
            WITH ours AS (SELECT id FROM billing_payment WHERE idempotency_key LIKE %s || '%%'),
            sums AS (
                SELECT e.id, sum(l.amount) AS total FROM billing_journalentry e
                JOIN billing_journalline l ON l.entry_id = e.id WHERE e.payment_id IN (SELECT id FROM ours)
                GROUP BY e.id
            )
            SELECT (SELECT count(*) FROM ours), (SELECT count(*) FROM sums),
                (SELECT count(*) FROM sums WHERE total <> 0),
                (SELECT count(DISTINCT a.bill_id) FROM billing_paymentallocation a
                 JOIN billing_bill b ON b.id = a.bill_id
                 WHERE a.payment_id IN (SELECT id FROM ours) AND b.status = 'paid')
            """,
            [key_prefix],
        ).fetchone()
    return [
        ("payments posted", payments == posted, f"{payments} (the function said {posted})"),
        ("one journal entry per payment", entries == posted, f"{entries} entries"),
        ("every journal entry balances", unbalanced == 0, f"{unbalanced} unbalanced"),
        ("one bill paid per payment", bills_paid == posted, f"{bills_paid} bills paid"),
    ]


def main(argv) -> int:
    args = parse_args(argv)
    url = os.environ.get("BENCH_PROVINCE_DATABASE_URL", PROVINCE_DEFAULT_URL)
    info = conninfo_to_dict(url)
    config = {
        "HOST": info.get("host"),
        "PORT": info.get("port"),
        "USER": info.get("user"),
        "PASSWORD": info.get("password"),
        "NAME": info.get("dbname"),
    }
    run_lock = hold_run_lock(config)
    try:
        key_prefix = f"sqlbound-{time.strftime('%Y%m%d%H%M%S')}-"
        requests = pick(url, args.payments, key_prefix)
        print(
            f"posting decided in SQL (a bound, not the product): {len(requests)} payments, {WORKERS} workers"
        )
        if not requests:
            print("No open bill of the function's case left to pay.", file=sys.stderr)
            return 2
        barrier = multiprocessing.Barrier(WORKERS + 1)
        results = multiprocessing.Queue()
        processes = [
            multiprocessing.Process(
                target=worker, args=(url, requests[i::WORKERS], key_prefix, barrier, results)
            )
            for i in range(WORKERS)
        ]
        for process in processes:
            process.start()
        barrier.wait()
        started = time.perf_counter()
        reports = [results.get() for _process in processes]
        wall = time.perf_counter() - started
        for process in processes:
            process.join()
        outcomes: dict[str, int] = {}
        for counted, _own, _its in reports:
            for name, count in counted.items():
                outcomes[name] = outcomes.get(name, 0) + count
        posted = outcomes.get("posted", 0)
        rate = posted / wall
        workers_ms = 1000 * sum(own for _c, own, _its in reports) / max(posted, 1)
        backends_ms = 1000 * sum(its for _c, _own, its in reports) / max(posted, 1)
        print(f"outcomes        {outcomes}")
        print(f"throughput      {rate:.0f} payments/s ({posted} in {wall:.2f} s)")
        print(f"CPU/payment     workers {workers_ms:.2f} ms, their PostgreSQL backends {backends_ms:.2f} ms")
        ok = print_checks(check_books(url, key_prefix, posted))
        tps, note = run_pgbench(config, args.pgbench_seconds, WORKERS, scratch=f"{config['NAME']}_pgbench")
        if tps is None:
            print(f"pgbench         {note}")
        else:
            print(f"pgbench         {tps:.0f} tps ({note})")
            print(
                f"ratio           the posting decided in SQL {rate:.0f}/s = {rate / tps:.2f}x pgbench's tps"
            )
        return 0 if ok else 1
    finally:
        run_lock.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
