from django.urls import path

from mappings import api, views

urlpatterns = [
    path("", views.home, name="mappings-home"),
    path("bitcoin/", views.set_bitcoin, name="mappings-set-bitcoin"),
    path("hive/", views.set_hive, name="mappings-set-hive"),
    path("hive/claims/<int:pk>/verify/", views.verify_hive, name="mappings-verify-hive"),
    path("<int:pk>/remove/", views.expire, name="mappings-expire"),
    path("bitcoin/deposit/", views.bitcoin_deposit, name="mappings-bitcoin-deposit"),
]

api_urlpatterns = [
    path("mappings", api.mapping_list, name="api-mappings"),
    path("mappings/<int:pk>", api.mapping_detail, name="api-mapping"),
    path("mappings/hive-claims", api.hive_claim_list, name="api-hive-claims"),
    path(
        "mappings/hive-claims/<int:pk>/verify", api.hive_claim_verify, name="api-hive-claim-verify"
    ),
]
