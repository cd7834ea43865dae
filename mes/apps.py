"""The project's own app: settings-level behaviour that needs Django ready."""

from django.apps import AppConfig


class MesConfig(AppConfig):
    name = "mes"

    def ready(self):
        from django.contrib import admin

        from mes import (
            idle_connections,  # noqa: F401  (connects its signal)
            prepared_statements,  # noqa: F401  (connects its signal)
            sign_in_throttling,  # noqa: F401  (connects its signals)
        )
        from mes.admin.site import configure_admin_site

        configure_admin_site(admin.site)
