from django.urls import path

from . import views

app_name = "batch_thumbs"
urlpatterns = [
    path("headless/", views.headless_page, name="headless"),
]
