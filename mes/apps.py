"""The project's own app: settings-level behaviour that needs Django ready."""

from django.apps import AppConfig


class MesConfig(AppConfig):
    name = "mes"

    def ready(self):
        from mes import prepared_statements  # noqa: F401  (connects its signal)
