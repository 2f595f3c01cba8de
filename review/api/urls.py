from django.urls import include, path

from .views import ExportApi

urlpatterns = [
    path("projects/<slug:slug>/export/", ExportApi.as_view(), name="api-export"),
    path("", include("review.api.quality_urls")),
]
