import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_asgi_application()

from config.checks import refuse_unsafe_start  # noqa: E402  (needs the apps loaded above)

refuse_unsafe_start()  # as config/wsgi.py: an unsafe setting stops the server before it serves
