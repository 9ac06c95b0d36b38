"""Named people for the counter tests: dave clerks at branch X, erin clerks at branch Y, sam supervises
branch X, and vera supervises branch Y."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from billing import roles
from branches import services
from branches.choices import BranchRole
from branches.models import BranchStaff
from tests.factories import BillerFactory, BillFactory, BranchFactory, CustomerAccountFactory
from tests.support import make_staff

PASSWORD = "pw-counter-1234"


def make_user(django_user_model, username, role, branch=None, branch_role=BranchRole.CLERK):
    user = make_staff(django_user_model, username, role, password=PASSWORD, first_name=username.title())
    if branch is not None:
        BranchStaff.objects.create(user=user, branch=branch, role=branch_role)
    return user


@pytest.fixture
def branch_x(db):
    return BranchFactory(
        code="BR-X",
        name="X支局",
        district="滨江区",
        latitude=Decimal("30.200000"),
        longitude=Decimal("120.200000"),
    )


@pytest.fixture
def branch_y(db):
    return BranchFactory(
        code="BR-Y",
        name="Y支局",
        district="滨江区",
        latitude=Decimal("30.210000"),
        longitude=Decimal("120.210000"),
    )


@pytest.fixture
def dave(django_user_model, branch_x):
    return make_user(django_user_model, "dave", roles.BRANCH_CLERK, branch_x)


@pytest.fixture
def erin(django_user_model, branch_y):
    return make_user(django_user_model, "erin", roles.BRANCH_CLERK, branch_y)


@pytest.fixture
def sam(django_user_model, branch_x):
    return make_user(django_user_model, "sam", roles.BRANCH_SUPERVISOR, branch_x, BranchRole.SUPERVISOR)


@pytest.fixture
def vera(django_user_model, branch_y):
    return make_user(django_user_model, "vera", roles.BRANCH_SUPERVISOR, branch_y, BranchRole.SUPERVISOR)


@pytest.fixture
def water(db):
    return BillerFactory(code="WATER", name="滨江水务", name_en="Binjiang Water")


@pytest.fixture
def account(water):
    return CustomerAccountFactory(biller=water, account_no="12345678", holder_name="张小明")


@pytest.fixture
def bill(account):
    return BillFactory(
        account=account,
        period="2026-10",
        amount_due=Decimal("86.50"),
        due_date=timezone.localdate() + datetime.timedelta(days=10),
        description="水费 2026年10月",
    )


@pytest.fixture
def till(dave, branch_x):
    """dave's till at branch X, opened with 500.00 of change."""
    return services.open_till(clerk=dave, branch=branch_x, opening_float="500.00")


# --- agents with a float: ada takes payments for agent 云栖村 on terminal T1 ---------------------------


@pytest.fixture
def village_agent(water):
    from branches import agents
    from branches.choices import AgentKind
    from branches.models import Agent
    from tests.factories import OperatorFactory

    agent = Agent(
        code="AG0001",
        name="云栖村代办点",
        kind=AgentKind.VILLAGE_OFFICER,
        operator=OperatorFactory(),
        region_code="330106",
        address="云栖村村委会",
        latitude=Decimal("30.180000"),
        longitude=Decimal("120.100000"),
        low_float_threshold=Decimal("50.00"),
        commission_fixed=Decimal("0.50"),
        commission_percentage=Decimal("0.0010"),
    )
    agents.save_agent(agent=agent, actor=None, created=True)
    agent.billers.add(water)
    return agent


@pytest.fixture
def ada(django_user_model, village_agent):
    from branches.models import AgentStaff

    user = django_user_model.objects.create_user("ada", "ada@example.com", PASSWORD, is_staff=True)
    AgentStaff.objects.create(user=user, agent=village_agent, terminal_id="T1")
    return user


def fund_float(agent, amount, ref="BANKREF-1"):
    from branches import agents

    return agents.credit_float(
        agent=agent, amount=Decimal(amount), bank_ref=ref, business_date=timezone.localdate()
    )[0]
