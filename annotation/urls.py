from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("projects/<slug:slug>/", views.project_detail, name="project"),
    path("projects/<slug:slug>/annotate/", views.annotate_next, name="annotate-next"),
    path("projects/<slug:slug>/history/", views.history, name="history"),
    path("assignments/<int:pk>/", views.assignment_workspace, name="assignment"),
]
