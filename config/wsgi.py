"""The WSGI application gunicorn serves. The system checks run first (config/checks.py): with DEBUG off and
an unsafe setting the import raises SystemCheckError, the worker fails to boot and gunicorn exits."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

from config.checks import refuse_unsafe_start  # noqa: E402  (needs the apps loaded above)

refuse_unsafe_start()
