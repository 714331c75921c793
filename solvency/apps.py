from django.apps import AppConfig


class SolvencyConfig(AppConfig):
    name = "solvency"
    verbose_name = "solvency: liabilities epochs and transfers"
