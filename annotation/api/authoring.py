"""Authoring API: project settings, archive, schema, guidelines, members, import preview, chain list.

Thin: every view reads its project through `project_get_for_user(roles=MANAGE_ROLES)` (404 outside a
manager's reach) and calls one service.
"""

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from ..exceptions import NotFound
from ..segmentation import MODES as SEGMENTATION_MODES
from ..segmentation import split_steps
from ..selectors import (
    MANAGE_ROLES,
    chain_list_for_project,
    guideline_versions,
    project_eta,
    project_get_for_user,
    project_members,
    project_progress,
)
from ..services import (
    guidelines_publish,
    import_preview,
    member_add,
    membership_remove,
    membership_set,
    project_archive,
    project_schema_set,
    project_update,
)
from .serializers import (
    ArchiveInput,
    ChainListInput,
    ChainRowOutput,
    GuidelinesInput,
    GuidelinesPreviewInput,
    ImportPreviewInput,
    MemberAddInput,
    MemberOutput,
    MemberRoleInput,
    ProjectDetailOutput,
    ProjectUpdateInput,
    SchemaInput,
    SegmentationPreviewInput,
)


def _managed(request, slug):
    return project_get_for_user(slug=slug, user=request.user, roles=MANAGE_ROLES)


class ProjectSettingsApi(APIView):
    @extend_schema(request=ProjectUpdateInput, responses=ProjectDetailOutput)
    def patch(self, request, slug):
        project = _managed(request, slug)
        data = ProjectUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        return Response(ProjectDetailOutput(project_update(project=project, **data.validated_data)).data)


class ProjectArchiveApi(APIView):
    @extend_schema(request=ArchiveInput, responses=ProjectDetailOutput)
    def post(self, request, slug):
        project = _managed(request, slug)
        data = ArchiveInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(ProjectDetailOutput(project_archive(project=project, **data.validated_data)).data)


class ProjectSchemaApi(APIView):
    @extend_schema(request=SchemaInput, responses=ProjectDetailOutput)
    def put(self, request, slug):
        project = _managed(request, slug)
        data = SchemaInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(ProjectDetailOutput(project_schema_set(project=project,
                                                               schema=data.validated_data["label_schema"])).data)


class GuidelinesApi(APIView):
    """The published versions (newest first) and publishing a new one."""

    @extend_schema(responses=dict)
    def get(self, request, slug):
        project = _managed(request, slug)
        return Response({"current": project.guideline_version, "text": project.guidelines,
                         "versions": guideline_versions(project=project)})

    @extend_schema(request=GuidelinesInput, responses={201: dict})
    def post(self, request, slug):
        project = _managed(request, slug)
        data = GuidelinesInput(data=request.data)
        data.is_valid(raise_exception=True)
        version = guidelines_publish(project=project, user=request.user, **data.validated_data)
        return Response({"number": version.number, "note": version.note}, status=status.HTTP_201_CREATED)


class GuidelinesPreviewApi(APIView):
    """The guidelines as annotators will see them (markdown rendered and sanitized; math by the page)."""

    @extend_schema(request=GuidelinesPreviewInput, responses=dict)
    def post(self, request, slug):
        from ..views import render_markdown  # the one renderer annotators' pages use

        _managed(request, slug)
        data = GuidelinesPreviewInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response({"html": render_markdown(data.validated_data["text"])})


class SegmentationPreviewApi(APIView):
    """How a text would be split into steps by each strategy (or one), to choose the project's."""

    @extend_schema(request=SegmentationPreviewInput, responses=dict)
    def post(self, request, slug):
        _managed(request, slug)
        data = SegmentationPreviewInput(data=request.data)
        data.is_valid(raise_exception=True)
        text, mode = data.validated_data["text"], data.validated_data["mode"]
        modes = [mode] if mode else list(SEGMENTATION_MODES)
        return Response({m: [span.text[:2000] for span in split_steps(text, m)[:200]] for m in modes})


class MemberListApi(APIView):
    @extend_schema(responses=MemberOutput(many=True))
    def get(self, request, slug):
        project = _managed(request, slug)
        return Response(MemberOutput(project_members(project=project), many=True).data)

    @extend_schema(request=MemberAddInput, responses={201: dict})
    def post(self, request, slug):
        project = _managed(request, slug)
        data = MemberAddInput(data=request.data)
        data.is_valid(raise_exception=True)
        membership, password = member_add(project=project, by=request.user, **data.validated_data)
        body = {"username": membership.user.get_username(), "role": membership.role}
        if password:
            body["password"] = password  # generated for the new account; shown this once
        return Response(body, status=status.HTTP_201_CREATED)


class MemberDetailApi(APIView):
    def _user(self, username):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise NotFound(f"No user '{username}'.")
        return user

    @extend_schema(request=MemberRoleInput, responses=dict)
    def patch(self, request, slug, username):
        project = _managed(request, slug)
        data = MemberRoleInput(data=request.data)
        data.is_valid(raise_exception=True)
        membership = membership_set(project=project, user=self._user(username), by=request.user,
                                    role=data.validated_data["role"])
        return Response({"username": username, "role": membership.role})

    @extend_schema(request=None, responses=dict)
    def delete(self, request, slug, username):
        project = _managed(request, slug)
        released = membership_remove(project=project, user=self._user(username), by=request.user)
        return Response({"username": username, "released": released})


class ImportPreviewApi(APIView):
    """What importing the file would do, without doing it: the first rows as they will be split, the counts,
    and every bad line. Nothing is written; import with POST .../imports/."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request={"multipart/form-data": ImportPreviewInput}, responses=dict)
    def post(self, request, slug):
        project = _managed(request, slug)
        data = ImportPreviewInput(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        with upload.open("rb") as handle:
            preview = import_preview(project=project, data=handle, filename=upload.name,
                                     fmt=data.validated_data["format"])
        return Response(preview)


class ChainListApi(APIView):
    """The project's chains, 50 a page in id order, with filters (all given must match); `next` is the `after`
    of the next page. A bad or unknown filter answers 400 naming it and what it accepts."""

    @extend_schema(parameters=[ChainListInput], responses=dict)
    def get(self, request, slug):
        project = _managed(request, slug)
        data = ChainListInput(data=request.query_params)
        data.is_valid(raise_exception=True)
        rows = chain_list_for_project(project=project, **data.selector_arguments())
        return Response({"results": ChainRowOutput(rows, many=True).data,
                         "next": rows[-1]["id"] if len(rows) == 50 else None})


class ProjectProgressApi(APIView):
    """Progress of the project (chains complete, passes, pace, ETA) and of each member."""

    @extend_schema(responses=dict)
    def get(self, request, slug):
        project = _managed(request, slug)
        progress = project_progress(project=project)
        return Response({"project": progress, "eta": project_eta(project=project, progress=progress),
                         "members": MemberOutput(project_members(project=project), many=True).data})
