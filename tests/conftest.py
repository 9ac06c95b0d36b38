import pytest
from django.conf import settings


def pytest_configure(config):
    engine = settings.DATABASES["default"]["ENGINE"]
    if engine != "django.db.backends.postgresql":
        pytest.exit(
            f"The suite runs on PostgreSQL only (got {engine}): SQLite does not lock rows. "
            "Run `make test`, or set DATABASE_URL=postgres://postgres@127.0.0.1:5432/billpay.",
            returncode=2,
        )


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("alice", "alice@example.com", "pw-alice-1234")


@pytest.fixture(autouse=True)
def _reference_data(request):
    """Transactional tests truncate every table, migration data included; put it back for each test."""
    if request.node.get_closest_marker("django_db") is None:
        return
    request.getfixturevalue("_django_db_helper")
    from django.apps import apps

    from billing import reference_data

    reference_data.install(apps)
