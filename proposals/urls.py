from django.urls import path

from proposals import views

urlpatterns = [
    path("", views.home, name="proposals-home"),
    path("<int:pk>/", views.detail, name="proposals-detail"),
    path("<int:pk>/approve/", views.approve, name="proposals-approve"),
    path("<int:pk>/revoke/", views.revoke, name="proposals-revoke"),
]
