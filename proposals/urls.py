from django.urls import path

from proposals import views

urlpatterns = [
    path("", views.home, name="proposals-home"),
]
