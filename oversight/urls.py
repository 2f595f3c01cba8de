from django.urls import path

from . import views

urlpatterns = [path("projects/<slug:slug>/oversight/", views.project_oversight, name="project-oversight")]
