from django.apps import AppConfig


class SidechainsConfig(AppConfig):
    name = "sidechains"
    verbose_name = "Sidechain pipelines"
