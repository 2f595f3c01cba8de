from django.urls import path

from . import quality_views as views

urlpatterns = [
    path("projects/<slug:slug>/review/", views.review_queue, name="review-queue"),
    path("projects/<slug:slug>/quality/", views.dashboard, name="review-dashboard"),
    path("review/chains/<int:pk>/", views.adjudicate, name="review-adjudicate"),
]
