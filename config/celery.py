import os

from celery import Celery
from celery.signals import beat_init, celeryd_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("billpay")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@celeryd_init.connect
@beat_init.connect
def _refuse_unsafe_start(**kwargs) -> None:
    """`celery -A config worker` and `celery -A config beat` run the system checks as gunicorn does
    (config/checks.py): with DEBUG off and an unsafe setting they stop before taking a task."""
    import sys

    import django

    django.setup()
    from django.core.management.base import SystemCheckError

    from config.checks import refuse_unsafe_start

    try:
        refuse_unsafe_start()
    except SystemCheckError as error:
        # Celery logs and swallows an exception raised by a signal handler; leaving is what stops it.
        sys.stderr.write(f"{error}\n")
        raise SystemExit(1) from error
