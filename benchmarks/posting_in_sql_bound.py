"""How far the one structural lever left for `post_payment` could go: the posting decided inside PostgreSQL.

A sizing experiment on the province, not a posting path. `post_payment` decides each payment in Python
between two round trips (lock, then write); every cheaper lever has been measured (docs/benchmarks.md,
issue 16) and what is left is that Python and the round trips. This runs the simplest payment, decided and
written by PL/pgSQL functions in one round trip, from the same 8 processes that
benchmarks/post_payments.py uses, and prints its rate beside pgbench's in the same run:

    BENCH_PROVINCE_DATABASE_URL=postgres://postgres@127.0.0.1:5432/billpay_bench_province \\
        .venv/bin/python benchmarks/posting_in_sql_bound.py [--payments 8000]

The functions do what `post_payment` does for the one case the province's benchmark pays (an online
payment of an account's oldest open bill, exactly, not yet due, at an active biller billed by statement,
with no live link, no co-beneficiaries and no late fee): it locks the account, looks the key up, locks and
pays the bill, and writes the payment, its allocation, its balanced journal entry and its outbox event,
under the province's own triggers and foreign keys. It leaves out everything else `post_payment` decides:
`billing.amounts`' pricing (late fees, discounts, instalments), partial and over-payments, shares, top-ups,
live billers, the audit row and a caller's kept row, and the worded refusals. So its rate is a bound on
what the lever could give, not a figure for the product: a posting decided in SQL would need a second
copy of those rules, or a fast path that hands every other case back to Python.

With --python-decides the same two halves run as `post_payment` runs its own: BEGIN and the lock
(`lock_for_payment`, narrow: the oldest open bill's facts) in one round trip, the decision in Python, then
the write (`write_decided_payment`) and COMMIT in a second. Between the two modes and `post_payment`
itself, a payment's cost splits into its second round trip, its Python, and its statements' shape
(docs/benchmarks.md, "The posting decided in SQL, sized").

The functions live in each connection's own temporary schema (`pg_temp`) and go with it: nothing of them
stays in the province, only the payments it wrote, as every --province benchmark leaves its rows.
"""

import argparse
import datetime
import hashlib
import json
import multiprocessing
import os
import random
import sys
import time
import uuid

import dj_database_url
import psycopg
from benchdb import PROVINCE_DEFAULT_URL, print_checks
from post_payments import hold_run_lock, run_pgbench
from procstat import proc_cpu_seconds
from province import GRID_CODE, OWN_BILLER_CODES

WORKERS = 8
WHERE = {False: "decided in SQL", True: "decided in Python between two round trips"}
BEIJING = datetime.timezone(datetime.timedelta(hours=8))

# The account locked and what the payment's decision needs, narrow (one row, the oldest open bill's facts).
_LOCK_FUNCTION = """
CREATE FUNCTION pg_temp.lock_for_payment(
    p_key text, p_biller text, p_account text,
    OUT account_id bigint, OUT biller_id bigint, OUT plain boolean, OUT key_used boolean,
    OUT bill_id bigint, OUT remaining numeric, OUT due_date date, OUT late_fee numeric, OUT period text,
    OUT collection_id bigint, OUT payable_id bigint
) LANGUAGE plpgsql AS $$
DECLARE
    acc record; bill record;
BEGIN
    SELECT a.id, a.biller_id, b.status, b.payment_mode,
        (SELECT l.mode IN ('fetch', 'validate') FROM billing_billerlink l WHERE l.biller_id = b.id) AS live,
        EXISTS (SELECT 1 FROM billing_collectionshare s WHERE s.biller_id = b.id AND s.active) AS shares
    INTO acc
    FROM billing_customeraccount a JOIN billing_biller b ON b.id = a.biller_id
    WHERE b.code = p_biller AND a.account_no = p_account
    FOR UPDATE OF a;
    IF NOT FOUND THEN RETURN; END IF;
    account_id := acc.id;
    biller_id := acc.biller_id;
    -- Anything but this (a live link, shares, another mode or status) is Python's case.
    plain := acc.status = 'active' AND acc.payment_mode = 'statement' AND NOT coalesce(acc.live, false)
        AND NOT acc.shares;
    key_used := EXISTS (
        SELECT 1 FROM billing_payment p WHERE p.channel = 'online' AND p.idempotency_key = p_key
    );
    SELECT * INTO bill FROM billing_bill o
    WHERE o.account_id = acc.id AND o.status IN ('open', 'partly_paid')
    ORDER BY o.due_date, o.period, o.id LIMIT 1
    FOR UPDATE;
    bill_id := bill.id;
    remaining := bill.amount_due + bill.late_fee - bill.discount_granted - bill.amount_paid;
    due_date := bill.due_date;
    late_fee := bill.late_fee;
    period := bill.period;
    SELECT l.id INTO collection_id FROM billing_ledgeraccount l WHERE l.code = 'CLEARING:ONLINE';
    SELECT l.id INTO payable_id FROM billing_ledgeraccount l WHERE l.code = 'PAYABLE:' || p_biller;
END $$
"""

# The decided payment written: the payment, its allocation, the bill paid, the balanced entry, the event.
_WRITE_FUNCTION = """
CREATE FUNCTION pg_temp.write_decided_payment(
    p_key text, p_biller text, p_account text, p_amount numeric, p_receipt text, p_fingerprint text,
    p_event_id uuid, p_account_id bigint, p_biller_id bigint, p_bill_id bigint, p_period text,
    p_collection_id bigint, p_payable_id bigint
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_payment bigint; v_entry bigint;
    v_now timestamptz := now(); v_day date := (now() AT TIME ZONE 'Asia/Shanghai')::date;
BEGIN
    INSERT INTO billing_payment (receipt_no, channel, idempotency_key, request_fingerprint, channel_ref,
        biller_id, account_id, payer_id, branch_id, actor_id, amount, status, business_date, posted_at,
        reversal_reason)
    VALUES (p_receipt, 'online', p_key, p_fingerprint, '', p_biller_id, p_account_id, NULL, NULL, NULL,
        p_amount, 'posted', v_day, v_now, '')
    RETURNING id INTO v_payment;
    INSERT INTO billing_paymentallocation (payment_id, bill_id, kind, amount, is_reversal)
    VALUES (v_payment, p_bill_id, 'bill', p_amount, false);
    UPDATE billing_bill SET amount_paid = amount_paid + p_amount, status = 'paid', updated_at = v_now
    WHERE id = p_bill_id;
    INSERT INTO billing_journalentry (kind, payment_id, reverses_id, memo, business_date, created_at,
        created_by_id)
    VALUES ('payment', v_payment, NULL, p_receipt, v_day, v_now, NULL)
    RETURNING id INTO v_entry;
    INSERT INTO billing_journalline (entry_id, account_id, amount)
    VALUES (v_entry, p_collection_id, p_amount), (v_entry, p_payable_id, -p_amount);
    INSERT INTO billing_outboxevent (id, type, aggregate_type, aggregate_id, payload, created_at)
    VALUES (p_event_id, 'payment.posted', 'payment', v_payment::text,
        jsonb_build_object('receipt_no', p_receipt, 'biller', p_biller, 'account_no', p_account,
            'amount', p_amount::text, 'channel', 'online', 'business_date', v_day::text,
            'bills', jsonb_build_array(jsonb_build_object('period', p_period, 'amount', p_amount::text))),
        v_now);
    RETURN v_payment;
END $$
"""

# Both in one call: the decision (`_is_plain_case`'s, in SQL) between them. -1: no such account; -2: the
# key was used; -3: not the plain case.
_POST_FUNCTION = """
CREATE FUNCTION pg_temp.post_simple_payment(
    p_key text, p_biller text, p_account text, p_amount numeric, p_receipt text, p_fingerprint text,
    p_event_id uuid
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    f record;
BEGIN
    SELECT * INTO f FROM pg_temp.lock_for_payment(p_key, p_biller, p_account);
    IF f.account_id IS NULL THEN RETURN -1; END IF;
    IF f.key_used THEN RETURN -2; END IF;
    IF NOT f.plain OR f.bill_id IS NULL OR f.remaining <> p_amount OR f.late_fee <> 0
        OR f.due_date < (now() AT TIME ZONE 'Asia/Shanghai')::date
    THEN
        RETURN -3;
    END IF;
    RETURN pg_temp.write_decided_payment(p_key, p_biller, p_account, p_amount, p_receipt, p_fingerprint,
        p_event_id, f.account_id, f.biller_id, f.bill_id, f.period, f.collection_id, f.payable_id);
END $$
"""
_POST = "SELECT pg_temp.post_simple_payment(%s, %s, %s, %s, %s, %s, %s)"
_LOCK = "SELECT * FROM pg_temp.lock_for_payment(%s, %s, %s)"
_WRITE = "SELECT pg_temp.write_decided_payment(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"


# Accounts whose oldest open bill is of the last period, not yet due, without a late fee, at active
# statement billers of the province with no live link and no co-beneficiaries: the function's one case.
_PICK = """
SELECT b.code, a.account_no, o.amount_due - o.discount_granted - o.amount_paid
FROM (
    SELECT bill.account_id FROM billing_bill bill JOIN billing_biller br ON br.id = bill.biller_id
    WHERE bill.period = %(period)s AND bill.status IN ('open', 'partly_paid') AND br.status = 'active'
        AND br.code ~ %(own_billers)s AND br.payment_mode = 'statement'
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
    parser.add_argument(
        "--python-decides",
        action="store_true",
        help="decide in Python between two round trips (lock, then write and commit), as post_payment",
    )
    return parser.parse_args(argv)


def pick(url: str, count: int, salt: str) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        (period,) = conn.execute(
            "SELECT max(period) FROM billing_bill WHERE biller_id = "
            "(SELECT id FROM billing_biller WHERE code = %s)",
            [GRID_CODE],
        ).fetchone()
        params = {"period": period, "own_billers": OWN_BILLER_CODES, "salt": salt, "asked": count * 2}
        rows = conn.execute(_PICK, params).fetchall()
    random.Random(salt).shuffle(rows)
    return rows[:count]


def _is_plain_case(facts, amount) -> bool:
    """The decision `post_simple_payment` makes in SQL, made in Python (--python-decides)."""
    account_id, _biller, plain, key_used, bill_id, remaining, due_date, late_fee, _period, _c, _p = facts
    return (
        account_id is not None
        and plain
        and not key_used
        and bill_id is not None
        and remaining == amount
        and not late_fee
        and due_date >= datetime.datetime.now(BEIJING).date()
    )


def _post_in_sql(conn, cursor, params) -> int:
    """One round trip: the function decides and writes; the statement is its own transaction."""
    cursor.execute(_POST, params, prepare=True)
    return cursor.fetchone()[0]


def _post_decided_in_python(conn, cursor, params) -> int:
    """Two round trips, as post_payment: BEGIN and the lock, then (decided here) the write and COMMIT."""
    key, code, number, amount = params[:4]
    with conn.pipeline() as pipeline:
        cursor.execute(_LOCK, [key, code, number], prepare=True)
        pipeline.sync()
        facts = cursor.fetchone()
        if not _is_plain_case(facts, amount):
            conn.rollback()
            return -3
        account_id, biller_id, _plain, _used, bill_id, _rest, _due, _fee, period, collection, payable = facts
        cursor.execute(
            _WRITE,
            [*params, account_id, biller_id, bill_id, period, collection, payable],
            prepare=True,
        )
        conn.commit()
    return 1


def worker(url, requests, key_prefix, python_decides, barrier, results) -> None:
    """Post `requests` one at a time; report the outcomes and the CPU of this process and of its backend."""
    conn = psycopg.connect(url, autocommit=True)
    for function in (_LOCK_FUNCTION, _WRITE_FUNCTION, _POST_FUNCTION):
        conn.execute(function)
    conn.autocommit = not python_decides
    post = _post_decided_in_python if python_decides else _post_in_sql
    backend = conn.info.backend_pid
    cursor = conn.cursor()
    for n in range(6):  # past psycopg's prepare threshold and PostgreSQL's custom plans: no such account
        post(conn, cursor, [f"{key_prefix}warm", "NONE", str(n), 1, "", "", uuid.uuid4()])
    barrier.wait()
    own, its = proc_cpu_seconds(os.getpid()), proc_cpu_seconds(backend)
    outcomes: dict[str, int] = {}
    for code, number, amount in requests:
        # What post_payment computes before its statement: the fingerprint, a receipt number, the event id.
        canonical = {"biller": code, "account_no": number, "amount": str(amount), "periods": []}
        fingerprint = hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()
        receipt = "S" + uuid.uuid4().hex[:19].upper()
        params = [f"{key_prefix}{code}-{number}", code, number, amount, receipt, fingerprint, uuid.uuid4()]
        outcome = post(conn, cursor, params)
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
    config = dj_database_url.parse(url)
    run_lock = hold_run_lock(config)
    try:
        key_prefix = f"sqlbound-{time.strftime('%Y%m%d%H%M%S')}-"
        requests = pick(url, args.payments, key_prefix)
        print(
            f"posting {WHERE[args.python_decides]} (a bound, not the product): {len(requests)} payments, "
            f"{WORKERS} workers"
        )
        if not requests:
            print("No open bill of the function's case left to pay.", file=sys.stderr)
            return 2
        barrier = multiprocessing.Barrier(WORKERS + 1)
        results = multiprocessing.Queue()
        processes = [
            multiprocessing.Process(
                target=worker,
                args=(url, requests[i::WORKERS], key_prefix, args.python_decides, barrier, results),
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
                f"ratio           the posting {WHERE[args.python_decides]} {rate:.0f}/s = {rate / tps:.2f}x "
                "pgbench's tps"
            )
        return 0 if ok else 1
    finally:
        run_lock.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
