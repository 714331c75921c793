from django.urls import path

from sons import api, views

urlpatterns = [
    path("son/", views.operator_home, name="sons-operator-home"),
    path("son/<slug:name>/", views.son_detail, name="sons-detail"),
    path("son/<slug:name>/maintenance/", views.son_maintenance, name="sons-maintenance"),
    path("son/<slug:name>/token/", views.son_token, name="sons-token"),
    path("sons/", views.status_grid, name="sons-status"),
]

api_urlpatterns = [
    path("son/me", api.me, name="api-son-me"),
    path("son/heartbeat", api.heartbeat, name="api-son-heartbeat"),
]
