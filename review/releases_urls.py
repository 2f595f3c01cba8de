from django.urls import path

from . import releases_views as views

urlpatterns = [
    path("projects/<slug:slug>/releases/", views.release_list, name="releases"),
    path("releases/<int:pk>/", views.release_detail, name="release"),
    path("evaluations/<int:pk>/", views.evaluation_detail, name="evaluation"),
]
