from django.urls import path

from . import views, views_authoring

urlpatterns = [
    path("", views.home, name="home"),
    path("projects/new/", views_authoring.project_new, name="project-new"),
    path("projects/<slug:slug>/", views.project_detail, name="project"),
    path("projects/<slug:slug>/setup/", views_authoring.setup, name="setup"),
    path("projects/<slug:slug>/setup/guidelines/", views_authoring.guidelines, name="setup-guidelines"),
    path("projects/<slug:slug>/setup/schema/", views_authoring.schema, name="setup-schema"),
    path("projects/<slug:slug>/setup/members/", views_authoring.members, name="setup-members"),
    path("projects/<slug:slug>/setup/import/", views_authoring.import_page, name="setup-import"),
    path("projects/<slug:slug>/setup/chains/", views_authoring.chains, name="setup-chains"),
    path("projects/<slug:slug>/setup/progress/", views_authoring.progress, name="setup-progress"),
    path("chains/<int:pk>/steps/", views_authoring.chain_steps_page, name="chain-steps"),
    path("projects/<slug:slug>/annotate/", views.annotate_next, name="annotate-next"),
    path("projects/<slug:slug>/history/", views.history, name="history"),
    path("assignments/<int:pk>/", views.assignment_workspace, name="assignment"),
]
