from django.urls import path

from solvency import api, views

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
]
