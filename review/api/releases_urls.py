from django.urls import path

from . import releases_views as views

urlpatterns = [
    path("projects/<slug:slug>/releases/", views.ReleaseListApi.as_view(), name="api-release-list"),
    path("releases/<int:pk>/", views.ReleaseDetailApi.as_view(), name="api-release"),
    path("releases/<int:pk>/remake/", views.ReleaseRemakeApi.as_view(), name="api-release-remake"),
    path("releases/<int:pk>/diff/", views.ReleaseDiffApi.as_view(), name="api-release-diff"),
    path("releases/<int:pk>/files/<path:path>", views.ReleaseFileApi.as_view(), name="api-release-file"),
    path("releases/<int:pk>/evaluations/", views.EvaluationListApi.as_view(), name="api-evaluation-list"),
    path("evaluations/<int:pk>/", views.EvaluationDetailApi.as_view(), name="api-evaluation"),
]
