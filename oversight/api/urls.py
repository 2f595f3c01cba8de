from django.urls import path

from . import views

urlpatterns = [
    path("oversight/assignments/<int:pk>/", views.AssignmentOversightApi.as_view(), name="api-oversight-assignment"),
    path("oversight/assignments/<int:pk>/debates/", views.AssignmentDebateStartApi.as_view(),
         name="api-oversight-debate-start"),
    path("oversight/critiques/<int:pk>/rating/", views.CritiqueRateApi.as_view(), name="api-oversight-critique-rate"),
    path("oversight/checks/<int:pk>/rating/", views.CheckRateApi.as_view(), name="api-oversight-check-rate"),
    path("oversight/runs/<int:pk>/", views.RunDetailApi.as_view(), name="api-oversight-run"),
    path("oversight/runs/<int:pk>/retry/", views.RunRetryApi.as_view(), name="api-oversight-run-retry"),
    path("oversight/runs/<int:pk>/verdict/", views.RunVerdictApi.as_view(), name="api-oversight-run-verdict"),
    path("oversight/chains/<int:pk>/", views.ChainResultsApi.as_view(), name="api-oversight-chain"),
    path("oversight/projects/<slug:slug>/policy/", views.ProjectPolicyApi.as_view(), name="api-oversight-policy"),
    path("oversight/projects/<slug:slug>/runs/", views.ProjectRunsApi.as_view(), name="api-oversight-runs"),
    path("oversight/projects/<slug:slug>/report/", views.ProjectReportApi.as_view(), name="api-oversight-report"),
    path("oversight/backends/", views.BackendListApi.as_view(), name="api-oversight-backends"),
]
