from django.urls import path

from sidechains import api, detail_views, reserves_views, views
from sidechains.hive import api as hive_api
from sidechains.hive import views as hive_views

urlpatterns = [
    path("deposits/", views.deposits, name="sidechains-deposits"),
    path("withdrawals/", views.withdrawals, name="sidechains-withdrawals"),
    path("withdrawals/hive/", hive_views.hive_withdraw, name="sidechains-hive-withdraw"),
    path("deposits/<int:pk>/", detail_views.deposit_detail, name="sidechains-deposit"),
    path(
        "deposits/<int:pk>/reclaim.psbt",
        detail_views.deposit_reclaim_psbt,
        name="sidechains-deposit-psbt",
    ),
    path("withdrawals/<int:pk>/", detail_views.withdrawal_detail, name="sidechains-withdrawal"),
    path("reserves/", reserves_views.reserves, name="sidechains-reserves"),
]

api_urlpatterns = [
    path("son/signing-requests", api.signing_requests, name="api-son-signing-requests"),
    path(
        "son/signing-requests/<int:sidechain_tx_id>",
        api.signing_answer,
        name="api-son-signing-answer",
    ),
    path(
        "son/signing-requests/hive-<int:hive_tx_id>",
        hive_api.hive_signing_answer,
        name="api-son-hive-signing-answer",
    ),
    path("withdrawals", api.withdrawal_list, name="api-withdrawals"),
    path("withdrawals/quote", api.withdrawal_fee_quote, name="api-withdrawal-quote"),
    path("withdrawals/<int:pk>", api.withdrawal_detail, name="api-withdrawal"),
    path("reserves", reserves_views.reserves_api, name="api-reserves"),
]
