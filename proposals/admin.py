from django.contrib import admin

from proposals.models import Witness


@admin.register(Witness)
class WitnessAdmin(admin.ModelAdmin):
    list_display = ["user", "weight", "active", "created_at"]
    list_filter = ["active"]
    search_fields = ["user__username"]
    autocomplete_fields = ["user"]
