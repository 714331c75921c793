from django.apps import AppConfig


class SidechainsConfig(AppConfig):
    name = "sidechains"
    verbose_name = "Sidechains and SONs"

    def ready(self) -> None:
        from sidechains import schema  # noqa: F401 - registers the OpenAPI auth extension
