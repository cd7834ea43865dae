from django.apps import AppConfig


class IntegrationConfig(AppConfig):
    name = "integration"
    verbose_name = "Integration"

    def ready(self):
        from integration.gateways.keys import forget_kept_keys_on_account_changes

        forget_kept_keys_on_account_changes()
