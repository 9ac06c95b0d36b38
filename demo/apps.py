from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo region of `make run`: it sits above every app, and no app imports it."""

    name = "demo"
