from django.urls import path

from proposals import rotation_views, views

urlpatterns = [
    path("", views.home, name="proposals-home"),
    path("rotation/", rotation_views.rotation, name="proposals-rotation"),
    path("<int:pk>/", views.detail, name="proposals-detail"),
    path("<int:pk>/approve/", views.approve, name="proposals-approve"),
    path("<int:pk>/revoke/", views.revoke, name="proposals-revoke"),
]
