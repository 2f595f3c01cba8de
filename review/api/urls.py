from django.urls import path

from .views import ExportApi

urlpatterns = [path("projects/<slug:slug>/export/", ExportApi.as_view(), name="api-export")]
