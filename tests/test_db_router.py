"""The read-replica router (config/db_router.py): reads that may lag go to the `replica` database when
there is one; writes, and reads inside a transaction, stay on the primary. Tested with a second alias to
the same PostgreSQL server and test database, as `DATABASE_REPLICA_URL` would add one."""

import copy
import os
import subprocess
import sys

import pytest
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext

from billing.models import Biller, BillerCategory
from billing.selectors import categories_with_active_billers
from config.db_router import REPLICA, replica_reads
from tests.test_database_setting import ROOT, load_settings


@pytest.fixture
def replica_alias(django_db_setup, django_db_blocker):
    """A `replica` alias to the primary's test database, removed again after the test. The rows a test
    writes are committed (the replica reads only committed rows) and deleted here; pytest-django's
    test cases know only the aliases of the settings, so these tests open the database themselves."""
    with django_db_blocker.unblock():
        connections.settings[REPLICA] = copy.deepcopy(connections["default"].settings_dict)
        try:
            yield connections[REPLICA]
        finally:
            connections[REPLICA].close()
            del connections[REPLICA]
            del connections.settings[REPLICA]
            Biller.objects.filter(code__startswith="REPL").delete()


def _biller(code="REPLWATER"):
    return Biller.objects.create(
        code=code, name="副本水务", category=BillerCategory.objects.get(code="water"), status="active"
    )


def test_a_read_that_may_lag_is_served_by_the_replica(replica_alias):
    biller = _biller()
    with (
        CaptureQueriesContext(replica_alias) as on_replica,
        CaptureQueriesContext(connections["default"]) as on_primary,
        replica_reads(),
    ):
        found = Biller.objects.get(code=biller.code)
    assert found == biller and found._state.db == REPLICA
    assert len(on_replica) == 1 and len(on_primary) == 0


def test_a_marked_selector_reads_the_replica_and_unmarked_reads_stay_on_the_primary(replica_alias):
    _biller()
    with CaptureQueriesContext(replica_alias) as on_replica:
        categories = categories_with_active_billers()
        plain = list(Biller.objects.all())
    assert any(
        biller.code == "REPLWATER"
        for c in categories
        for child in c.children.all()
        for biller in child.billers.all()
    )
    assert on_replica.captured_queries and plain[0]._state.db == "default"
    assert len(on_replica) == 4  # the categories and their three prefetches; not the plain list


def test_a_row_read_from_the_replica_is_written_to_the_primary(replica_alias):
    _biller()
    with replica_reads():
        found = Biller.objects.get(code="REPLWATER")
    with (
        CaptureQueriesContext(replica_alias) as on_replica,
        CaptureQueriesContext(connections["default"]) as on_primary,
    ):
        found.name = "改名水务"
        found.save(update_fields=["name"])
    assert len(on_replica) == 0 and any("UPDATE" in q["sql"] for q in on_primary.captured_queries)


def test_inside_a_transaction_the_primary_answers_so_a_write_is_read_back(replica_alias):
    with transaction.atomic():
        _biller("REPLGAS")
        with CaptureQueriesContext(replica_alias) as on_replica, replica_reads():
            assert Biller.objects.filter(code="REPLGAS").exists()
    assert len(on_replica) == 0


@pytest.mark.django_db
def test_without_a_replica_every_read_goes_to_the_primary():
    with replica_reads():
        assert Biller.objects.all().db == "default"


def test_the_replica_url_adds_a_replica_database_that_tests_mirror_to_the_primary():
    script = (
        "import django; django.setup(); from django.conf import settings; r = settings.DATABASES['replica']; "
        "print(r['HOST'], r['USER'], r['TEST']['MIRROR'], settings.DATABASE_ROUTERS[0])"
    )
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    environment.update(DATABASE_URL="postgres://postgres@127.0.0.1:5432/billpay")
    environment.update(DATABASE_REPLICA_URL="postgres://reader@10.0.0.2:5432/billpay")
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["10.0.0.2", "reader", "default", "config.db_router.ReplicaRouter"]
    refused = load_settings(
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/billpay", DATABASE_REPLICA_URL="sqlite:///x.db"
    )
    assert "DATABASE_REPLICA_URL must name a PostgreSQL server" in refused.stderr
