from django.apps import AppConfig


class ExecutionConfig(AppConfig):
    name = "execution"
    verbose_name = "Execution and data collection"

    def ready(self):
        from execution import route_binding  # noqa: F401  (connects its receiver and check)
