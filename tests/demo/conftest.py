import pytest


@pytest.fixture(autouse=True)
def demo_runs_with_debug_on(settings):
    """The demo's commands run only with DEBUG on (`make run`); pytest-django turns it off."""
    settings.DEBUG = True
