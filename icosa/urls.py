from django.urls import path

from . import views

app_name = "icosa"
urlpatterns = [
    path("", views.gallery, name="gallery"),
    path("view/<str:url>/", views.asset_detail, name="asset"),
    path("thumbnail-status/", views.thumbnail_status, name="thumbnail_status"),
]
