from django.apps import AppConfig


class ConfigAppConfig(AppConfig):
    """The project's own checks: with DEBUG off the platform refuses to start while a setting is unsafe."""

    name = "config"
    verbose_name = "Configuration"

    def ready(self) -> None:
        # Celery signal receivers: request ids into tasks, task metrics, beat's last run (config/health.py).
        from config import (  # noqa: F401
            checks,
            csrf_tokens,
            health,
            metrics,
            request_id,
        )

        csrf_tokens.install()  # the CSRF strings from one random read each, not 32
