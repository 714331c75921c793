from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from mappings.urls import api_urlpatterns as mappings_api
from rates.urls import api_urlpatterns as rates_api
from sidechains.urls import api_urlpatterns as sidechains_api
from solvency.urls import api_urlpatterns as solvency_api
from solvency.urls import transfer_urlpatterns
from sonportal import status_page, views
from sons.urls import api_urlpatterns as sons_api

# The admin's own login form would skip the second factor: it sends people to allauth's.
admin.site.login = login_required(admin.site.login)  # type: ignore[method-assign]

urlpatterns = [
    path("", views.home, name="home"),
    path("account/", views.account_home, name="account-home"),
    path("account/statement/", views.account_statement, name="account-statement"),
    # Accounts, second factors and sessions are django-allauth's (docs/accounts.md); /login/
    # stays as a door to its login page.
    path("accounts/", include("allauth.urls")),
    path("settings/", include("notifications.urls")),
    path("login/", RedirectView.as_view(pattern_name="account_login"), name="login"),
    path("healthz", views.healthz, name="healthz"),
    path("status/", status_page.status_page, name="status"),
    path("admin/status/", views.admin_status, name="admin-status"),
    path("admin/", admin.site.urls),
    path("proposals/", include("proposals.urls")),
    path("", include("sons.urls")),
    path("", include("sidechains.urls")),
    path("rates/", include("rates.urls")),
    path("addresses/", include("mappings.urls")),
    path("epochs/", include("solvency.urls")),
    path("transfers/", include(transfer_urlpatterns)),
    path("api/v1/", include(sons_api + sidechains_api + rates_api + mappings_api + solvency_api)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
]

handler404 = views.not_found
handler500 = views.server_error
