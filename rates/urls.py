from django.urls import path

from rates import api, views

urlpatterns = [
    path("", views.rates_list, name="rates-list"),
    path("new/", views.rate_create, name="rates-create"),
    path("preview/", views.rate_preview, name="rates-preview"),
]

api_urlpatterns = [
    path("rates", api.RatesView.as_view(), name="api-rates"),
    path("rates/history", api.rate_history, name="api-rates-history"),
]
