from django.urls import path

from . import authoring, views

urlpatterns = [
    path("projects/", views.ProjectListApi.as_view(), name="api-projects"),
    path("projects/<slug:slug>/", views.ProjectDetailApi.as_view(), name="api-project"),
    path("projects/<slug:slug>/imports/", views.ImportCreateApi.as_view(), name="api-import-create"),
    path("projects/<slug:slug>/imports/preview/", authoring.ImportPreviewApi.as_view(), name="api-import-preview"),
    path("projects/<slug:slug>/archive/", authoring.ProjectArchiveApi.as_view(), name="api-project-archive"),
    path("projects/<slug:slug>/schema/", authoring.ProjectSchemaApi.as_view(), name="api-project-schema"),
    path("projects/<slug:slug>/guidelines/", authoring.GuidelinesApi.as_view(), name="api-guidelines"),
    path("projects/<slug:slug>/guidelines/preview/", authoring.GuidelinesPreviewApi.as_view(),
         name="api-guidelines-preview"),
    path("projects/<slug:slug>/segmentation/preview/", authoring.SegmentationPreviewApi.as_view(),
         name="api-segmentation-preview"),
    path("projects/<slug:slug>/members/", authoring.MemberListApi.as_view(), name="api-members"),
    path("projects/<slug:slug>/members/<str:username>/", authoring.MemberDetailApi.as_view(), name="api-member"),
    path("projects/<slug:slug>/chains/", authoring.ChainListApi.as_view(), name="api-chains"),
    path("projects/<slug:slug>/progress/", authoring.ProjectProgressApi.as_view(), name="api-progress"),
    path("projects/<slug:slug>/audit/", views.ProjectAuditApi.as_view(), name="api-project-audit"),
    path("imports/<int:pk>/", views.ImportDetailApi.as_view(), name="api-import"),
    path("projects/<slug:slug>/queue/next/", views.QueueNextApi.as_view(), name="api-queue-next"),
    path("projects/<slug:slug>/assignments/", views.AssignmentListApi.as_view(), name="api-assignments"),
    path("assignments/<int:pk>/", views.AssignmentDetailApi.as_view(), name="api-assignment"),
    path("assignments/<int:pk>/texts/", views.AssignmentTextsApi.as_view(), name="api-assignment-texts"),
    path("assignments/<int:pk>/labels/", views.AssignmentLabelsApi.as_view(), name="api-assignment-labels"),
    path("assignments/<int:pk>/submit/", views.AssignmentSubmitApi.as_view(), name="api-assignment-submit"),
    path("assignments/<int:pk>/skip/", views.AssignmentSkipApi.as_view(), name="api-assignment-skip"),
    path("assignments/<int:pk>/reopen/", views.AssignmentReopenApi.as_view(), name="api-assignment-reopen"),
    path("chains/<int:pk>/", views.ChainDetailApi.as_view(), name="api-chain"),
    path("chains/<int:pk>/edits/", views.ChainEditApi.as_view(), name="api-chain-edits"),
]
