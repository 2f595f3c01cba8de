"""Release and judge-evaluation API: thin; services and selectors do the work."""

import mimetypes
from pathlib import PurePosixPath

from asgiref.sync import sync_to_async
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.exceptions import NotFound

from .. import releases_store as store
from ..evaluations import evaluation_create, predictions_from_runs, release_judge_request
from ..releases import release_create, release_diff, release_maintain
from ..releases_selectors import evaluation_get_for_user, release_get_for_user, release_list_for_user
from .releases_serializers import (
    EvaluationCreateInput,
    EvaluationOutput,
    ReleaseCreateInput,
    ReleaseOutput,
    ReleaseSummaryOutput,
)


class ReleaseListApi(APIView):
    @extend_schema(responses=ReleaseSummaryOutput(many=True))
    def get(self, request, slug):
        _project, releases = release_list_for_user(project_slug=slug, user=request.user)
        return Response(ReleaseSummaryOutput(releases.select_related("project")[:200], many=True).data)

    @extend_schema(request=ReleaseCreateInput, responses={202: ReleaseOutput})
    def post(self, request, slug):
        project, _releases = release_list_for_user(project_slug=slug, user=request.user)
        data = ReleaseCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        release = release_create(project=project, user=request.user, **data.validated_data)
        return Response(ReleaseOutput(release).data, status=status.HTTP_202_ACCEPTED)


class ReleaseDetailApi(APIView):
    @extend_schema(responses=ReleaseOutput)
    def get(self, request, pk):
        release = release_maintain(release=release_get_for_user(release_id=pk, user=request.user))
        return Response(ReleaseOutput(release).data)


class ReleaseRemakeApi(APIView):
    """A new release made from this one's manifest (its filters and pinned selection): the same bytes."""

    parser_classes = [JSONParser, FormParser]

    @extend_schema(request=None, parameters=[OpenApiParameter("version", str)], responses={202: ReleaseOutput})
    def post(self, request, pk):
        release = release_get_for_user(release_id=pk, user=request.user)
        version = str(request.data.get("version") or f"{release.version}-remake")
        again = release_create(project=release.project, user=request.user, name=release.name, version=version,
                               description=release.description, remade_from=release, **release.filters)
        return Response(ReleaseOutput(again).data, status=status.HTTP_202_ACCEPTED)


class ReleaseFileApi(APIView):
    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request, pk, path):
        release = release_get_for_user(release_id=pk, user=request.user)
        known = release.files.filter(path=path).first() if path != "manifest.json" else True
        if not known or release.status != "done":
            raise NotFound(f"release {pk} has no file '{path[:200]}'; its files are listed in its manifest.")
        relative = PurePosixPath(path)
        if relative.is_absolute() or ".." in relative.parts:  # a listed path never leaves the folder; checked anyway
            raise NotFound(f"release {pk} has no file '{path[:200]}'.")
        if not store.exists(release_id=release.pk, path=path):
            raise NotFound(f"release {pk}: '{path[:200]}' is listed but missing from storage; re-make the release.")
        name = f"{release.name}-{release.version}-{relative.as_posix().replace('/', '-')}"
        url = store.download_url(release_id=release.pk, path=path, filename=name)
        if url:
            return HttpResponseRedirect(url)
        response = _ChunkedResponse(store.chunks(release_id=release.pk, path=path),
                                    content_type=mimetypes.guess_type(name)[0] or "application/octet-stream")
        response["Content-Length"] = str(store.size(release_id=release.pk, path=path))
        response["Content-Disposition"] = content_disposition_header(True, name)
        return response


class _ChunkedResponse(StreamingHttpResponse):
    """A file streamed a megabyte at a time under both servers. Django's ASGI handler gathers a sync
    iterator whole into a list before sending it (and FileResponse is one): uvicorn's peak grew by 110 MB
    for a 96 MB release file (tests/review/test_releases_s3.py). Here each chunk is read in a thread as the
    client takes it."""

    async def __aiter__(self):
        parts = iter(self.streaming_content)
        while (part := await sync_to_async(next, thread_sensitive=False)(parts, None)) is not None:
            yield part


class ReleaseDiffApi(APIView):
    @extend_schema(parameters=[OpenApiParameter("other", int, required=True)], responses=OpenApiTypes.OBJECT)
    def get(self, request, pk):
        release = release_get_for_user(release_id=pk, user=request.user)
        try:
            other_id = int(request.query_params.get("other", ""))
        except ValueError:
            from annotation.exceptions import ValidationFailed

            raise ValidationFailed("other: the id of the release to compare with, e.g. ?other=3.", field="other") from None
        other = release_get_for_user(release_id=other_id, user=request.user)
        return Response(release_diff(old=other, new=release))


class EvaluationListApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses=EvaluationOutput(many=True))
    def get(self, request, pk):
        release = release_get_for_user(release_id=pk, user=request.user)
        return Response(EvaluationOutput(release.evaluations.order_by("-id")[:200], many=True).data)

    @extend_schema(request={"multipart/form-data": EvaluationCreateInput}, responses={201: EvaluationOutput})
    def post(self, request, pk):
        release = release_get_for_user(release_id=pk, user=request.user)
        data = EvaluationCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        if v.get("backend") and v["request"]:
            asked = release_judge_request(release=release, backend_name=v["backend"], split=v["split"],
                                          user=request.user)
            return Response(asked, status=status.HTTP_202_ACCEPTED)
        if v.get("backend"):
            predictions, _skipped = predictions_from_runs(release=release, backend_name=v["backend"], split=v["split"])
        else:
            predictions = v["file"].read()
        evaluation = evaluation_create(release=release, user=request.user, judge=v["judge"], split=v["split"],
                                       data=predictions, resamples=v["resamples"], pairs=v["pairs"] and not v.get("backend"))
        return Response(EvaluationOutput(evaluation).data, status=status.HTTP_201_CREATED)


class EvaluationDetailApi(APIView):
    @extend_schema(responses=EvaluationOutput)
    def get(self, request, pk):
        return Response(EvaluationOutput(evaluation_get_for_user(evaluation_id=pk, user=request.user)).data)
