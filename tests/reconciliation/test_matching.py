"""The matching engine: every line and every payment ends in exactly one class; reruns change nothing."""

import datetime
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from billing.services import reverse_payment
from reconciliation import matching_reference, services
from reconciliation.choices import MatchClass, RunStatus
from reconciliation.exceptions import StatementRefused
from reconciliation.models import Discrepancy, MatchResult, StatementFile, StatementLine
from reconciliation.services import runs
from tests.reconciliation.conftest import CHANNEL, billpay_csv

pytestmark = pytest.mark.django_db
M = MatchClass


@pytest.fixture
def day_of_everything(shop, today):
    """Payments and a statement with one case of each class."""
    p = {
        name: shop.pay(amount)
        for name, amount in [
            ("ok", "100.00"),
            ("short", "50.00"),
            ("absent", "70.00"),
            ("refunded_there", "30.00"),
            ("reversed_here", "40.00"),
            ("refund_ok", "20.00"),
            ("by_time", "33.33"),
            ("dup_here", "10.00"),
        ]
    }
    twin = shop.pay("10.00", ref=p["dup_here"].channel_ref)
    no_ref = shop.pay("44.44", ref="")
    reverse_payment(payment=p["reversed_here"], actor=None, reason="test")
    reverse_payment(payment=p["refund_ok"], actor=None, reason="test")
    now = timezone.localtime().replace(microsecond=0)
    lines = [
        ("PAYMENT", p["ok"].channel_ref, "100.00", "", None),
        ("PAYMENT", p["short"].channel_ref, "49.00", "", None),
        ("PAYMENT", "GHOST-1", "88.00", "", now - datetime.timedelta(hours=3)),
        ("PAYMENT", p["refunded_there"].channel_ref, "30.00", "", None),
        ("REFUND", "RF-1", "30.00", p["refunded_there"].channel_ref, None),
        ("PAYMENT", p["reversed_here"].channel_ref, "40.00", "", None),
        ("PAYMENT", p["refund_ok"].channel_ref, "20.00", "", None),
        ("REFUND", "RF-2", "20.00", p["refund_ok"].channel_ref, None),
        ("PAYMENT", "TIME-ONLY", "44.44", "", now),
        ("PAYMENT", p["dup_here"].channel_ref, "10.00", "", None),
        ("PAYMENT", p["by_time"].channel_ref, "33.33", "", None),
    ]
    data = billpay_csv(today, lines)
    return p, twin, no_ref, data


def results(run):
    return {
        (r.line.channel_ref if r.line_id else None, r.payment_id, r.klass)
        for r in run.results.select_related("line")
    }


def test_every_line_and_payment_ends_in_one_class(day_of_everything, today):
    p, twin, no_ref, data = day_of_everything
    run = services.reconcile_file(channel_code=CHANNEL, business_date=today, data=data, file_name="s.csv")
    assert run.status == RunStatus.DONE and run.percent == 100
    got = results(run)
    assert (p["ok"].channel_ref, p["ok"].pk, M.MATCHED) in got
    assert (p["short"].channel_ref, p["short"].pk, M.AMOUNT_MISMATCH) in got
    assert (None, p["absent"].pk, M.MISSING_CHANNEL) in got
    assert ("GHOST-1", None, M.MISSING_PLATFORM) in got
    assert (p["refunded_there"].channel_ref, p["refunded_there"].pk, M.MATCHED) in got
    assert ("RF-1", p["refunded_there"].pk, M.STATUS_MISMATCH) in got
    assert (p["reversed_here"].channel_ref, p["reversed_here"].pk, M.STATUS_MISMATCH) in got
    assert ("RF-2", p["refund_ok"].pk, M.MATCHED) in got
    assert ("TIME-ONLY", no_ref.pk, M.MATCHED) in got
    assert (None, twin.pk, M.DUPLICATE) in got
    lines = StatementLine.objects.filter(statement=run.statement).count()
    line_results = MatchResult.objects.filter(run=run, line__isnull=False).count()
    assert line_results == lines == 11
    payment_ids = [
        r.payment_id
        for r in run.results.all()
        if r.payment_id and (r.line_id is None or r.line.kind == "payment")
    ]
    assert len(payment_ids) == len(set(payment_ids)) == 10
    assert Discrepancy.objects.filter(run=run).count() == run.results.exclude(klass=M.MATCHED).count() == 6
    assert run.counts[M.MATCHED]["count"] == 7


def test_a_rerun_changes_nothing_and_the_same_file_is_never_counted_twice(day_of_everything, today):
    _p, _twin, _no_ref, data = day_of_everything
    first = services.reconcile_file(channel_code=CHANNEL, business_date=today, data=data, file_name="s.csv")
    before = results(first)
    again = services.reconcile_file(
        channel_code=CHANNEL, business_date=today, data=data, file_name="copy.csv"
    )
    assert again.pk == first.pk and results(again) == before
    assert StatementFile.objects.count() == 1 and StatementLine.objects.count() == 11


def test_the_same_file_for_another_day_is_refused(day_of_everything, today):
    data = day_of_everything[3]
    services.import_statement(channel_code=CHANNEL, business_date=today, data=data, file_name="s.csv")
    with pytest.raises(StatementRefused) as caught:
        services.import_statement(
            channel_code=CHANNEL,
            business_date=today - datetime.timedelta(days=1),
            data=data,
            file_name="s.csv",
        )
    assert caught.value.code == "statement_already_imported"


def test_a_line_reported_again_on_a_later_statement_is_a_duplicate(shop, today):
    payment = shop.pay("12.00")
    line = [("PAYMENT", payment.channel_ref, "12.00", "", None)]
    services.reconcile_file(
        channel_code=CHANNEL, business_date=today, data=billpay_csv(today, line), file_name="a"
    )
    # The next day's statement (a second one for the same day is refused: tests/*/test_untrusted_files.py)
    tomorrow = today + datetime.timedelta(days=1)
    second = billpay_csv(tomorrow, [*line, ("PAYMENT", "OTHER", "1.00", "", None)])
    run = services.reconcile_file(channel_code=CHANNEL, business_date=tomorrow, data=second, file_name="b")
    assert (payment.channel_ref, None, M.DUPLICATE) in {(a, None, c) for a, _b, c in results(run)}


def test_two_candidates_by_amount_and_time_go_to_a_person(shop, today):
    shop.pay("25.00", ref="")
    shop.pay("25.00", ref="")
    data = billpay_csv(
        today, [("PAYMENT", "NOREF", "25.00", "", timezone.localtime().replace(microsecond=0))]
    )
    run = services.reconcile_file(channel_code=CHANNEL, business_date=today, data=data, file_name="a")
    line_result = run.results.get(line__channel_ref="NOREF")
    assert line_result.klass == M.MISSING_PLATFORM and line_result.candidates == 2
    assert run.results.filter(klass=M.MISSING_CHANNEL).count() == 2
    assert not run.results.filter(klass=M.MATCHED).exists()


def test_an_amount_tolerance_lets_a_close_amount_pair_as_a_mismatch(shop, today):
    payment = shop.pay("25.00", ref="")
    data = billpay_csv(
        today, [("PAYMENT", "NOREF", "25.01", "", timezone.localtime().replace(microsecond=0))]
    )
    result = services.import_statement(
        channel_code=CHANNEL, business_date=today, data=data, file_name="a", amount_tolerance=Decimal("0.05")
    )
    run = services.run_reconciliation(run_id=result.run.pk)
    assert run.results.get(payment=payment).klass == M.AMOUNT_MISMATCH


def test_other_sources_payments_are_not_in_scope(shop, today):
    shop.pay("9.00", source="ACME")
    run = services.reconcile_file(
        channel_code=CHANNEL, business_date=today, data=billpay_csv(today, []), file_name="a"
    )
    assert run.results.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_run_killed_midway_resumes_to_the_same_result(shop, today, monkeypatch):
    payments = [shop.pay("5.00") for _ in range(7)]
    data = billpay_csv(today, [("PAYMENT", p.channel_ref, "5.00", "", None) for p in payments[:6]])
    clean_expected = {(p.channel_ref, M.MATCHED) for p in payments[:6]}

    def die(run, batch_no):
        if batch_no == 2:
            raise RuntimeError("worker killed")

    monkeypatch.setattr(runs, "_after_batch", die)
    imported = services.import_statement(channel_code=CHANNEL, business_date=today, data=data, file_name="a")
    with pytest.raises(RuntimeError):
        services.run_reconciliation(run_id=imported.run.pk, batch_size=2)
    imported.run.refresh_from_db()
    assert imported.run.status == RunStatus.FAILED and imported.run.loaded_lines == 4
    assert not MatchResult.objects.exists()
    monkeypatch.setattr(runs, "_after_batch", lambda run, batch_no: None)
    run = services.run_reconciliation(run_id=imported.run.pk, batch_size=2)
    assert run.status == RunStatus.DONE and run.attempts == 2
    assert StatementLine.objects.count() == 6
    got = {(r.line.channel_ref, r.klass) for r in run.results.filter(line__isnull=False)}
    assert got == clean_expected
    assert run.results.get(payment=payments[6]).klass == M.MISSING_CHANNEL


def test_the_command_reconciles_a_file(tmp_path, shop, today, capsys):
    payment = shop.pay("100.00")
    path = tmp_path / "s.csv"
    path.write_bytes(billpay_csv(today, [("PAYMENT", payment.channel_ref, "100.00", "", None)]))
    call_command("reconcile", "--channel", CHANNEL, "--date", today.isoformat(), "--file", str(path))
    call_command(
        "reconcile",
        "--channel",
        CHANNEL,
        "--date",
        today.isoformat(),
        "--file",
        str(path),
        "--format",
        "billpay",
    )
    out = capsys.readouterr().out
    assert out.count("matched                    1") == 2
    assert MatchResult.objects.count() == 1


def sql_and_python(run, today, tolerance=Decimal("0.00")):
    sql = sorted((r.klass, r.method, r.line_id, r.payment_id, r.candidates) for r in run.results.all())
    rows = matching_reference.compute(
        statement_id=run.statement_id,
        channel_code=CHANNEL,
        channel="online",
        source="SANDBOX",
        day=today,
        amount_tolerance=tolerance,
        window_seconds=run.time_window_seconds,
    )
    python = sorted((r["klass"], r["method"], r["line_id"], r["payment_id"], r["candidates"]) for r in rows)
    return sql, python


def test_the_python_rules_agree_with_the_sql_engine(day_of_everything, today):
    data = day_of_everything[3]
    run = services.reconcile_file(channel_code=CHANNEL, business_date=today, data=data, file_name="s.csv")
    sql, python = sql_and_python(run, today)
    assert sql == python


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_engines_agree_on_random_days(shop, today, seed):
    import random

    rng = random.Random(seed)
    now = timezone.localtime().replace(microsecond=0)
    lines = []
    for n in range(30):
        amount = rng.choice(["10.00", "20.00", "30.00", "40.00"])
        ref = "" if rng.random() < 0.3 else f"X{seed}-{n}"
        payment = shop.pay(amount, ref=ref)
        draw = rng.random()
        line_ref = ref or f"NOREF{seed}-{n}"
        when = now + datetime.timedelta(minutes=rng.randint(-20, 20))
        if draw < 0.6:
            lines.append(("PAYMENT", line_ref, amount, "", when))
        elif draw < 0.7:
            lines.append(("PAYMENT", line_ref, f"{Decimal(amount) + 1:.2f}", "", when))
        elif draw < 0.8 and ref:
            reverse_payment(payment=payment, actor=None, reason="x")
            lines.append(("PAYMENT", line_ref, amount, "", when))
            if rng.random() < 0.5:
                lines.append(("REFUND", f"RF{seed}-{n}", amount, ref, when))
    for n in range(5):
        lines.append(("PAYMENT", f"EXTRA{seed}-{n}", rng.choice(["10.00", "20.00"]), "", now))
    run = services.reconcile_file(
        channel_code=CHANNEL, business_date=today, data=billpay_csv(today, lines), file_name="r"
    )
    sql, python = sql_and_python(run, today)
    assert sql == python
    assert {klass for klass, *_rest in sql} >= {M.MATCHED, M.MISSING_PLATFORM}
