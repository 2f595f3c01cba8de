"""Thin API views: parse input, call a service or selector, shape output."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from ..exceptions import NotFound
from ..models import ImportJob, Role
from ..selectors import (
    MANAGE_ROLES,
    assignment_get_for_user,
    assignment_list_for_user,
    project_get_for_user,
    project_list_for_user,
    project_progress,
)
from ..services import (
    assignment_claim_next,
    assignment_labels_save,
    assignment_skip,
    assignment_submit,
    import_job_create,
    membership_set,
    project_create,
)
from .serializers import (
    AssignmentOutput,
    AssignmentSummaryOutput,
    ImportCreateInput,
    ImportJobOutput,
    LabelsSaveInput,
    ProjectCreateInput,
    ProjectOutput,
    SubmitInput,
    to_labels,
)


class ProjectListApi(APIView):
    @extend_schema(responses=ProjectOutput(many=True))
    def get(self, request):
        return Response(ProjectOutput(project_list_for_user(user=request.user), many=True).data)

    @extend_schema(request=ProjectCreateInput, responses={201: ProjectOutput})
    def post(self, request):
        if not request.user.is_staff:
            raise NotFound("Only site staff create projects; ask an admin.")
        data = ProjectCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        project = project_create(**data.validated_data)
        membership_set(project=project, user=request.user, role=Role.ADMIN)
        return Response(ProjectOutput(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(APIView):
    @extend_schema(responses=ProjectOutput)
    def get(self, request, slug):
        project = project_get_for_user(slug=slug, user=request.user)
        return Response({**ProjectOutput(project).data, "progress": project_progress(project=project)})


class ImportCreateApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request={"multipart/form-data": ImportCreateInput}, responses={201: ImportJobOutput, 202: ImportJobOutput})
    def post(self, request, slug):
        project = project_get_for_user(slug=slug, user=request.user, roles=MANAGE_ROLES)
        data = ImportCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        job = import_job_create(project=project, user=request.user, upload=data.validated_data["file"],
                                fmt=data.validated_data["format"])
        body = ImportJobOutput(job).data
        if job.status == "failed":
            return Response({"detail": f"{job.filename} was refused; nothing was imported. Fix the rows listed in "
                                       "'errors' and upload it again.", **body}, status=status.HTTP_400_BAD_REQUEST)
        return Response(body, status=status.HTTP_201_CREATED if job.status == "done" else status.HTTP_202_ACCEPTED)


class ImportDetailApi(APIView):
    @extend_schema(responses=ImportJobOutput)
    def get(self, request, pk):
        job = ImportJob.objects.select_related("project").filter(pk=pk).first()
        if job is None:
            raise NotFound("No such import job.")
        project_get_for_user(slug=job.project.slug, user=request.user, roles=MANAGE_ROLES)
        return Response(ImportJobOutput(job).data)


class QueueNextApi(APIView):
    @extend_schema(request=None, responses={200: AssignmentOutput, 204: None})
    def post(self, request, slug):
        project = project_get_for_user(slug=slug, user=request.user)
        assignment = assignment_claim_next(project=project, user=request.user)
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        assignment = assignment_get_for_user(pk=assignment.pk, user=request.user)
        return Response(AssignmentOutput(assignment).data)


class AssignmentListApi(APIView):
    @extend_schema(responses=AssignmentSummaryOutput(many=True))
    def get(self, request, slug):
        project = project_get_for_user(slug=slug, user=request.user)
        return Response(AssignmentSummaryOutput(assignment_list_for_user(user=request.user, project=project)[:500],
                                                many=True).data)


class AssignmentDetailApi(APIView):
    @extend_schema(responses=AssignmentOutput)
    def get(self, request, pk):
        return Response(AssignmentOutput(assignment_get_for_user(pk=pk, user=request.user)).data)


class AssignmentLabelsApi(APIView):
    @extend_schema(request=LabelsSaveInput, responses=AssignmentSummaryOutput)
    def put(self, request, pk):
        assignment = assignment_get_for_user(pk=pk, user=request.user)
        data = LabelsSaveInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        assignment = assignment_labels_save(assignment=assignment, user=request.user, labels=to_labels(v["labels"]),
                                            version=v["version"], active_seconds=v["active_seconds"])
        return Response(AssignmentSummaryOutput(assignment).data)


class AssignmentSubmitApi(APIView):
    @extend_schema(request=SubmitInput, responses=AssignmentSummaryOutput)
    def post(self, request, pk):
        assignment = assignment_get_for_user(pk=pk, user=request.user)
        data = SubmitInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        assignment = assignment_submit(assignment=assignment, user=request.user, finish_reason=v["finish_reason"],
                                       version=v["version"], labels=to_labels(v["labels"]), comment=v["comment"],
                                       active_seconds=v["active_seconds"])
        return Response(AssignmentSummaryOutput(assignment).data)


class AssignmentSkipApi(APIView):
    @extend_schema(request=None, responses=AssignmentSummaryOutput)
    def post(self, request, pk):
        assignment = assignment_get_for_user(pk=pk, user=request.user)
        return Response(AssignmentSummaryOutput(assignment_skip(assignment=assignment, user=request.user)).data)


