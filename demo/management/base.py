"""What every demo command shares: it refuses to run with DEBUG off, before it touches anything."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _


class DemoCommand(BaseCommand):
    """A command of the demo: its users, password and API keys are public, so it runs only with DEBUG on
    (`make run`), never against a real platform. The refusal comes before the system checks and before
    any query, in the user's language (Simplified Chinese unless English is active)."""

    def execute(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError(
                _(
                    "%(command)s runs only with DEBUG on: the demo's users, password and API keys are "
                    "public and must never reach a real platform."
                )
                % {"command": self.command_name}
            )
        return super().execute(*args, **options)

    @property
    def command_name(self) -> str:
        return self.__module__.rsplit(".", 1)[-1]
