from django.apps import AppConfig


class SidechainsConfig(AppConfig):
    name = "sidechains"
    verbose_name = "Sidechain pipelines"

    def ready(self) -> None:
        # The SON pages (sons, a lower layer) count signatures and refusals through this.
        from sidechains.son_activity import signing_activity
        from sons.activity import register_provider

        register_provider(signing_activity)
