from django.urls import path

from solvency import api, transfers_api, views

urlpatterns = [
    path("", views.epochs, name="solvency-epochs"),
    path("new/", views.epoch_create_now, name="solvency-epoch-create"),
    path("<int:number>/", views.epoch_detail, name="solvency-epoch"),
    path("<int:number>/proof.json", views.proof_download, name="solvency-proof"),
]

transfer_urlpatterns = [
    path("", views.transfer, name="solvency-transfer"),
    path("<int:pk>/", views.transfer_sign, name="solvency-transfer-sign"),
]

api_urlpatterns = [
    path("epochs", api.epochs, name="api-epochs"),
    path("epochs/<int:number>/proof", api.epoch_proof, name="api-epoch-proof"),
    path("transfers", transfers_api.transfer_list, name="api-transfers"),
    path("transfers/<int:pk>", transfers_api.transfer_detail, name="api-transfer"),
    path("transfers/<int:pk>/signature", transfers_api.transfer_sign, name="api-transfer-sign"),
]
