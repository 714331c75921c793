from django.apps import AppConfig


class SonsConfig(AppConfig):
    name = "sons"
    verbose_name = "SONs"

    def ready(self) -> None:
        from sons import schema  # noqa: F401 - registers the OpenAPI auth extension
