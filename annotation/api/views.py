"""Thin API views: parse input, call a service or selector, shape output."""

import orjson
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from ..exceptions import NotFound
from ..models import Chain, ImportJob
from ..selectors import (
    MANAGE_ROLES,
    assignment_get_for_user,
    assignment_labels,
    assignment_list_for_user,
    assignment_steps,
    assignment_texts,
    audit_events_for_user,
    chain_revision_list,
    chain_steps,
    project_get_for_user,
    project_list_for_user,
    project_progress,
)
from ..services import (
    assignment_claim_next,
    assignment_labels_save,
    assignment_reopen,
    assignment_skip,
    assignment_submit,
    chain_edit,
    import_job_create,
    import_jobs_maintain,
    project_create_for_user,
)
from ..services.import_jobs import import_job_live
from .authoring import ProjectSettingsApi
from .serializers import (
    AssignmentOutput,
    AssignmentSummaryOutput,
    AuditEventOutput,
    ChainEditInput,
    ImportCreateInput,
    ImportJobOutput,
    LabelsSaveInput,
    ProjectCreateForUserInput,
    ProjectDetailOutput,
    ProjectOutput,
    SaveOutput,
    SkipInput,
    SubmitInput,
    to_labels,
)


class ProjectListApi(APIView):
    @extend_schema(responses=ProjectOutput(many=True))
    def get(self, request):
        return Response(ProjectOutput(project_list_for_user(user=request.user), many=True).data)

    @extend_schema(request=ProjectCreateForUserInput, responses={201: ProjectDetailOutput})
    def post(self, request):
        """Create a project (needs the site permission to create projects); you become its admin."""
        data = ProjectCreateForUserInput(data=request.data)
        data.is_valid(raise_exception=True)
        project = project_create_for_user(user=request.user, **data.validated_data)
        return Response(ProjectDetailOutput(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(ProjectSettingsApi):
    """A project (any member); PATCH changes its settings (researchers and admins)."""

    @extend_schema(responses=ProjectDetailOutput)
    def get(self, request, slug):
        project = project_get_for_user(slug=slug, user=request.user)
        return Response({**ProjectDetailOutput(project).data, "progress": project_progress(project=project)})


class ImportCreateApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request={"multipart/form-data": ImportCreateInput},
                   responses={201: ImportJobOutput, 202: ImportJobOutput, 400: ImportJobOutput})
    def post(self, request, slug):
        project = project_get_for_user(slug=slug, user=request.user, roles=MANAGE_ROLES)
        data = ImportCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        job = import_job_create(project=project, user=request.user, upload=v["file"], fmt=v["format"],
                                update_labels=v["update_labels"])
        body = ImportJobOutput(job).data
        if job.status == "failed":
            return Response({"detail": f"{job.filename} was refused; nothing was imported. Fix the rows listed in "
                                       "'errors' and upload it again.", **body}, status=status.HTTP_400_BAD_REQUEST)
        return Response(body, status=status.HTTP_201_CREATED if job.status == "done" else status.HTTP_202_ACCEPTED)


class ImportDetailApi(APIView):
    @extend_schema(responses=ImportJobOutput)
    def get(self, request, pk):
        job = ImportJob.objects.select_related("project").filter(pk=pk).first()
        _project_of(job, request.user, "No such import job.")
        if job.status in ("queued", "running"):
            # A page watching a job also revives it when its worker died or the broker lost it.
            import_jobs_maintain(job_id=job.pk)
            job.refresh_from_db()
        return Response(ImportJobOutput(job, context={"live": import_job_live(job)}).data)


class QueueNextApi(APIView):
    @extend_schema(request=None, responses={200: AssignmentOutput, 204: None})
    def post(self, request, slug):
        project = project_get_for_user(slug=slug, user=request.user)
        assignment = assignment_claim_next(project=project, user=request.user)
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(_assignment_body(assignment_get_for_user(pk=assignment.pk, user=request.user)))


def _assignment_body(assignment) -> dict:
    steps = assignment_steps(assignment=assignment)
    labels = assignment_labels(assignment=assignment, steps=steps)
    return AssignmentOutput(assignment, context={"steps": steps, "labels": labels}).data


class AssignmentListApi(APIView):
    @extend_schema(responses=AssignmentSummaryOutput(many=True))
    def get(self, request, slug):
        project = project_get_for_user(slug=slug, user=request.user)
        return Response(AssignmentSummaryOutput(assignment_list_for_user(user=request.user, project=project)[:500],
                                                many=True).data)


class AssignmentDetailApi(APIView):
    @extend_schema(responses=AssignmentOutput)
    def get(self, request, pk):
        return Response(_assignment_body(assignment_get_for_user(pk=pk, user=request.user)))


class AssignmentTextsApi(APIView):
    """Every step's text of the assignment's revision, as JSON lines: `{"revision": r, "count": n}`, then
    one JSON string per step in order. What the workspace page fetches after its first frame (the page
    itself carries the texts of the steps around the one it opens on); lines let the page take them in
    as they arrive, a slice at a time, instead of parsing 4 MB (20,000 steps) in one task that a key
    would wait behind. Written by orjson, not DRF's renderer."""

    @extend_schema(responses={(200, "application/x-ndjson"): str})
    def get(self, request, pk):
        assignment = assignment_get_for_user(pk=pk, user=request.user)
        asked = request.query_params.get("revision")
        if asked is not None and asked != str(assignment.revision):
            return Response({"detail": f"These steps are now revision {assignment.revision}, not {asked[:20]}: "
                                       "reload the page to see them.", "field": "revision"},
                            status=status.HTTP_409_CONFLICT)
        body = assignment_texts(assignment=assignment)
        lines = [orjson.dumps({"revision": body["revision"], "count": len(body["texts"])}),
                 *map(orjson.dumps, body["texts"])]
        response = HttpResponse(b"\n".join(lines) + b"\n", content_type="application/x-ndjson")
        # The texts of a revision never change (its URL names the revision); only this user's browser keeps them.
        response["Cache-Control"] = "private, max-age=86400"
        return response


class AssignmentLabelsApi(APIView):
    """Save some steps' labels: only the fields sent change (PATCH semantics; PUT is the same, kept for
    older pages)."""

    @extend_schema(request=LabelsSaveInput, responses=SaveOutput)
    def patch(self, request, pk):
        data = LabelsSaveInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        result = assignment_labels_save(assignment=pk, user=request.user, labels=to_labels(v["labels"]),
                                        version=v["version"], active_seconds=v["active_seconds"],
                                        save_key=v["save_key"])
        return Response(SaveOutput(result).data)

    @extend_schema(request=LabelsSaveInput, responses=SaveOutput)
    def put(self, request, pk):
        return self.patch(request, pk)


class AssignmentSubmitApi(APIView):
    @extend_schema(request=SubmitInput, responses=AssignmentSummaryOutput)
    def post(self, request, pk):
        assignment = assignment_get_for_user(pk=pk, user=request.user)
        data = SubmitInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        assignment = assignment_submit(assignment=assignment, user=request.user, finish_reason=v["finish_reason"],
                                       version=v["version"], labels=to_labels(v["labels"]), comment=v["comment"],
                                       active_seconds=v["active_seconds"], save_key=v["save_key"])
        return Response(AssignmentSummaryOutput(assignment).data)


class AssignmentSkipApi(APIView):
    @extend_schema(request=SkipInput, responses=AssignmentSummaryOutput)
    def post(self, request, pk):
        assignment = assignment_get_for_user(pk=pk, user=request.user)
        data = SkipInput(data=request.data)
        data.is_valid(raise_exception=True)
        skipped = assignment_skip(assignment=assignment, user=request.user, reason=data.validated_data["reason"])
        return Response(AssignmentSummaryOutput(skipped).data)


class AssignmentReopenApi(APIView):
    """Reopen a chain you submitted, to change it, until it is reviewed (if the project allows it)."""

    @extend_schema(request=None, responses=AssignmentSummaryOutput)
    def post(self, request, pk):
        reopened = assignment_reopen(assignment=pk, user=request.user)
        return Response({**AssignmentSummaryOutput(reopened).data, "reopened_from": reopened.reopened_from})


def _project_of(obj, user, missing: str) -> None:
    """The object's project must be the user's (else the same 404 as a missing object: the message must
    not name a project the user cannot see) and their role one of MANAGE_ROLES (else 403)."""
    if obj is None:
        raise NotFound(missing)
    try:
        project_get_for_user(slug=obj.project.slug, user=user, roles=MANAGE_ROLES)
    except NotFound:
        raise NotFound(missing) from None


def _chain_for_manager(pk: int, user) -> Chain:
    chain = Chain.objects.select_related("project", "problem").filter(pk=pk).first()
    _project_of(chain, user, "No such chain.")
    return chain


def _chain_body(chain: Chain) -> dict:
    steps = chain_steps(chain=chain)
    return {"id": chain.pk, "source_id": chain.source_id, "project": chain.project.slug,
            "problem": chain.problem.statement, "revision": chain.revision, "step_count": chain.step_count,
            "steps": [{"index": i, "key": k, "text": t} for i, (k, t) in enumerate(zip(steps.keys, steps.texts,
                                                                                       strict=True))],
            "revisions": chain_revision_list(chain=chain)}


class ChainDetailApi(APIView):
    """A chain's current steps and its revision history (researchers and admins)."""

    @extend_schema(responses=dict)
    def get(self, request, pk):
        return Response(_chain_body(_chain_for_manager(pk, request.user)))


class ChainEditApi(APIView):
    """Edit the chain's steps: split, merge, reword, insert, delete, resegment. Makes a new revision."""

    @extend_schema(request=ChainEditInput, responses={201: dict})
    def post(self, request, pk):
        chain = _chain_for_manager(pk, request.user)
        data = ChainEditInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        chain_edit(chain=chain, user=request.user, **v)
        return Response(_chain_body(chain), status=status.HTTP_201_CREATED)


class ProjectAuditApi(APIView):
    """The project's audit log (imports, submissions, adjudications, releases, role changes), newest first.
    Project admins and site staff."""

    @extend_schema(responses=AuditEventOutput(many=True))
    def get(self, request, slug):
        project = project_get_for_user(slug=slug, user=request.user)
        events = audit_events_for_user(user=request.user, project=project)
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(AuditEventOutput(page, many=True).data)
