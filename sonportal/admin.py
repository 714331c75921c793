"""Admin classes of installed packages, made to check permissions like ours.

django-celery-beat's PeriodicTaskAdmin offers enable, disable, toggle and run actions to anyone
who can see the list: a staff member with only view permissions could stop the deposit
listener or run any scheduled task. Here each needs the permission to change periodic tasks.
(This module is loaded by admin autodiscovery after django_celery_beat's, which it replaces.)
"""

from django.contrib import admin
from django_celery_beat.admin import PeriodicTaskAdmin as BeatPeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask


class PeriodicTaskAdmin(BeatPeriodicTaskAdmin):
    @admin.action(description="Enable selected tasks", permissions=["change"])
    def enable_tasks(self, request, queryset):
        return super().enable_tasks(request, queryset)

    @admin.action(description="Disable selected tasks", permissions=["change"])
    def disable_tasks(self, request, queryset):
        return super().disable_tasks(request, queryset)

    @admin.action(description="Toggle activity of selected tasks", permissions=["change"])
    def toggle_tasks(self, request, queryset):
        return super().toggle_tasks(request, queryset)

    @admin.action(description="Run selected tasks", permissions=["change"])
    def run_tasks(self, request, queryset):
        return super().run_tasks(request, queryset)


admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, PeriodicTaskAdmin)
