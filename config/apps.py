from django.apps import AppConfig


class ConfigAppConfig(AppConfig):
    """The project's own checks: with DEBUG off the platform refuses to start while a setting is unsafe."""

    name = "config"
    verbose_name = "Configuration"

    def ready(self) -> None:
        from config import checks  # noqa: F401  (registers the system checks)
