from django.urls import path

from sidechains import api, views

urlpatterns = [
    path("son/", views.operator_home, name="sidechains-operator-home"),
    path("son/<slug:name>/", views.son_detail, name="sidechains-son"),
    path("son/<slug:name>/maintenance/", views.son_maintenance, name="sidechains-son-maintenance"),
    path("son/<slug:name>/token/", views.son_token, name="sidechains-son-token"),
    path("sons/", views.status_grid, name="sidechains-status-grid"),
    path("deposits/", views.deposits, name="sidechains-deposits"),
    path("withdrawals/", views.withdrawals, name="sidechains-withdrawals"),
]

api_urlpatterns = [
    path("son/me", api.me, name="api-son-me"),
    path("son/heartbeat", api.heartbeat, name="api-son-heartbeat"),
    path("son/signing-requests", api.signing_requests, name="api-son-signing-requests"),
    path(
        "son/signing-requests/<int:sidechain_tx_id>",
        api.signing_answer,
        name="api-son-signing-answer",
    ),
    path("withdrawals", api.withdrawal_list, name="api-withdrawals"),
    path("withdrawals/<int:pk>", api.withdrawal_detail, name="api-withdrawal"),
]
