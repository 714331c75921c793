from django.apps import AppConfig


class SonportalConfig(AppConfig):
    name = "sonportal"
    verbose_name = "SON portal"
