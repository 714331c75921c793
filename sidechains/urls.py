from django.urls import path

from sidechains import api, views

urlpatterns = [
    path("son/", views.operator_home, name="sidechains-operator-home"),
    path("son/<slug:name>/", views.son_detail, name="sidechains-son"),
]

api_urlpatterns = [
    path("son/heartbeat", api.heartbeat, name="api-son-heartbeat"),
    path("son/signing-requests", api.signing_requests, name="api-son-signing-requests"),
]
