from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.db import connection
from django.http import JsonResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from .throttle import ThrottledLoginView, TokenObtainApi


def health(request):
    """Liveness plus a database round trip: what a load balancer should poll."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})


urlpatterns = [
    path("admin/", admin.site.urls),
    path("login/", ThrottledLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("health/", health, name="health"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script, so the CSP holds.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    # Before annotation's urls, which map the same path to DRF's unthrottled view.
    path("api/auth/token/", TokenObtainApi.as_view(), name="api-token"),
    path("api/", include("annotation.api.urls")),
    path("api/", include("oversight.api.urls")),
    path("api/", include("review.api.urls")),
    path("", include("review.quality_urls")),
    path("api/", include("review.api.releases_urls")),
    path("", include("review.releases_urls")),
    path("", include("oversight.urls")),
    path("", include("annotation.urls")),
]
