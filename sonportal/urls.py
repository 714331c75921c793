from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from mappings.urls import api_urlpatterns as mappings_api
from rates.urls import api_urlpatterns as rates_api
from sidechains.urls import api_urlpatterns as sidechains_api
from solvency.urls import api_urlpatterns as solvency_api
from solvency.urls import transfer_urlpatterns
from sonportal import views
from sons.urls import api_urlpatterns as sons_api

urlpatterns = [
    path("", views.home, name="home"),
    path("account/", views.account_home, name="account-home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", views.healthz, name="healthz"),
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
