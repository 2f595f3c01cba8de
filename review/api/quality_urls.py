from django.urls import path

from . import quality_views as views

urlpatterns = [
    path("projects/<slug:slug>/quality/", views.ProjectQualityApi.as_view(), name="api-quality"),
    path("projects/<slug:slug>/review-queue/", views.ReviewQueueApi.as_view(), name="api-review-queue"),
    path("projects/<slug:slug>/review-policy/", views.ReviewPolicyApi.as_view(), name="api-review-policy"),
    path("projects/<slug:slug>/screening/", views.ProjectScreeningApi.as_view(), name="api-screening"),
    path("chains/<int:pk>/adjudication/", views.ChainAdjudicationApi.as_view(), name="api-adjudication"),
    path("chains/<int:pk>/rework/", views.ChainReworkApi.as_view(), name="api-chain-rework"),
    path("chains/<int:pk>/debate/", views.ChainDebateApi.as_view(), name="api-chain-debate"),
    path("chains/<int:pk>/plant/", views.ChainPlantApi.as_view(), name="api-chain-plant"),
    path("chains/<int:pk>/gold/", views.ChainGoldApi.as_view(), name="api-chain-gold"),
]
