"""Set-up the test files share: staff members, the one way a test logs someone in, payments, cash taken
at a till, and a second connection to the database.

Fixtures built on these live in tests/conftest.py; plain functions live here so module-scoped set-up
(which cannot ask for function-scoped fixtures) can use them too."""

import importlib.util
import tempfile
from decimal import Decimal
from pathlib import Path

import psycopg
from django.contrib.auth.models import Group
from django.db import connection
from psycopg import pq

from billing.choices import Channel
from billing.services import post_payment


def load_file_module(path: Path, name: str):
    """A script that is not in a package (deploy/, docs/examples/), loaded from its file as module `name`."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def database_url() -> str:
    """The test database as a DATABASE_URL, for a command or server started beside the test (trust auth: no
    password)."""
    database = connection.settings_dict
    return f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"


def other_connection():
    """A plain psycopg connection (autocommit) to the test database, beside Django's: to look from outside its
    transaction, or to end its backend."""
    params = connection.get_connection_params()
    params.pop("prepare_threshold", None)
    params.pop("cursor_factory", None)
    return psycopg.connect(**params, autocommit=True)


def make_staff(django_user_model, username, role, *, password=None, **fields):
    """A staff user in the role's group (`billing.roles`); with no password unless the test types one."""
    user = django_user_model.objects.create_user(
        username, f"{username}@example.com", password, is_staff=True, **fields
    )
    user.groups.add(Group.objects.get(name=role))
    return user


def log_in(client, user):
    """Log a user (staff or citizen) into the test client: every test that signs someone in goes through
    here, so a change to how staff sign in (a second factor, say) is made once."""
    client.force_login(user)
    return client


def pay(account, amount: Decimal | str = "100.00", key: str = "k1", *, channel=Channel.ONLINE, **kwargs):
    """Pay an account's bills through `post_payment`, the one way money comes in; returns its result."""
    return post_payment(
        channel=channel,
        idempotency_key=key,
        biller_code=account.biller.code,
        account_no=account.account_no,
        amount=amount,
        **kwargs,
    )


def take_cash(clerk, till, bill, key="k1", amount=None, tendered="100.00"):
    """Cash for one bill at the clerk's open till: its whole amount due unless told, from a 100-yuan note
    unless told. Returns the service's result (`.counter_payment`, `.replayed`)."""
    from branches import services

    return services.take_cash(
        clerk=clerk,
        till_id=till.pk,
        biller_code=bill.biller.code,
        account_no=bill.account.account_no,
        periods=[bill.period],
        amount=bill.amount_due if amount is None else amount,
        tendered=tendered,
        form_key=key,
    )


def exchanges(trace: str) -> list[str]:
    """The protocol messages libpq's trace logged, grouped by direction: F (ours), B (the server's)."""
    directions = [line.split("\t")[0] for line in trace.splitlines() if "\t" in line]
    groups = []
    for direction in directions:
        if not groups or groups[-1] != direction:
            groups.append(direction)
    return groups


def traced(run):
    """run(), and libpq's trace of the messages it sent and received."""
    pgconn = connection.connection.pgconn
    with tempfile.TemporaryFile("w+") as file:
        pgconn.trace(file.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            result = run()
        finally:
            pgconn.untrace()
        file.seek(0)
        return result, file.read()
