"""The pieces of the cluster run (deploy/cluster.py) that can be checked without namespaces: its nginx
configuration over several app hosts, the unit runner's wrapping and editing of a command, and the judge
of the run's results, which must see a lost, a doubled and an overpaid payment. The run itself is
`make cluster-short` (CI, after the deploy walk)."""

import subprocess
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.choices import AllocationKind
from billing.models import Payment, PaymentAllocation
from tests.factories import BillFactory
from tests.test_deploy import load

units = load("units")


def test_the_clusters_load_balancer_configuration_names_both_app_hosts_and_passes_nginx_t(tmp_path):
    stack = load("stack")
    for sub in ("nginx/tmp", "log", "run", "tls"):
        (tmp_path / sub).mkdir(parents=True)
    stack.make_certificate(tmp_path / "tls", ("DNS:localhost", "IP:10.77.0.10"))
    conf = stack.write_nginx_conf(
        tmp_path,
        {"https": 443, "http": 80},
        address="127.0.0.1",
        upstreams=("10.77.0.11:8000", "10.77.0.12:8000"),
        server_name="10.77.0.10",
    )
    prefix = ["-p", f"{tmp_path}/nginx/", "-e", f"{tmp_path}/log/nginx-error.log", "-c", str(conf)]
    result = subprocess.run(
        [stack.nginx_binary(), *prefix, "-t"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "nginx" / "billpay.conf").read_text()
    assert "server 10.77.0.11:8000 max_fails=1 fail_timeout=5s;" in text
    assert "server 10.77.0.12:8000 max_fails=1 fail_timeout=5s;" in text
    assert "fail_timeout=0" not in text


def test_a_unit_started_on_a_host_runs_its_command_behind_the_wrapper_with_the_edited_arguments(tmp_path):
    script = tmp_path / "worker.service"
    script.write_text("[Service]\nExecStart=/bin/echo --concurrency 4 --hostname io@%H\n")

    def edit(argv):
        argv = list(argv)
        argv[argv.index("--concurrency") + 1] = "2"
        argv[argv.index("--hostname") + 1] = "io@worker1"
        return argv

    process = units.Unit(script).start(
        tmp_path / "worker.log", wrap=("/usr/bin/env", "HOST=worker1"), edit=edit
    )
    assert process.wait(timeout=10) == 0
    assert (tmp_path / "worker.log").read_text().strip() == "--concurrency 2 --hostname io@worker1"


@pytest.mark.django_db
class TestTheJudge:
    def verify(self, answers, received=None):
        load("walk_data")
        return load("cluster_data").verify(answers, received or {})

    def test_an_empty_run_is_clean(self):
        report = self.verify([])
        assert (report["lost"], report["duplicated"], report["overpaid"]) == (0, 0, 0)
        assert report["ledger"]["balanced"]
        assert report["problems"] == []

    def test_an_answered_receipt_missing_from_the_ledger_is_lost(self):
        report = self.verify([{"kind": "counter", "key": "k1", "receipt_no": "R-NOT-THERE"}])
        assert report["lost"] == 1
        assert "R-NOT-THERE" in report["problems"][0]

    def test_one_idempotency_key_answered_with_two_receipts_is_duplicated(self):
        answers = [
            {"kind": "partner", "key": "same", "receipt_no": "R1"},
            {"kind": "partner", "key": "same", "receipt_no": "R2"},
        ]
        assert self.verify(answers)["duplicated"] == 1

    def test_allocations_beyond_a_bills_amount_are_overpaid(self):
        # The bill's own total is bounded by a database constraint; the allocations are the second witness.
        bill = BillFactory(amount_due=Decimal("10.00"))
        payment = Payment.objects.create(  # a corrupt state on purpose: no service would write it
            channel="counter",
            idempotency_key="judge-overpaid",
            request_fingerprint="-",
            biller=bill.biller,
            account=bill.account,
            amount=Decimal("20.00"),
            business_date=timezone.localdate(),
        )
        PaymentAllocation.objects.create(
            payment=payment, bill=bill, kind=AllocationKind.BILL, amount=Decimal("20.00")
        )
        assert self.verify([])["overpaid"] == 1

    def test_a_guest_payment_the_bank_has_no_trade_for_is_lost(self):
        assert self.verify([{"kind": "guest", "trade_no": "SBX-NONE"}])["lost"] == 1
