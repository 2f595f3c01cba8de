from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.views import APIView

from annotation.selectors import MANAGE_ROLES, project_get_for_user

from ..exporters import FORMATS
from ..selectors import export_lines

_CHUNK = 256 * 1024


def _take(lines, limit: int = _CHUNK) -> bytes:
    parts, size = [], 0
    for line in lines:
        parts.append(line)
        size += len(line)
        if size >= limit:
            break
    return b"".join(parts)


async def _async_chunks(lines):
    # Under ASGI Django would read a plain iterator whole into memory before sending; pull it a
    # chunk at a time in the sync thread (where the database connection lives) instead.
    while chunk := await sync_to_async(_take, thread_sensitive=True)(lines):
        yield chunk


class ExportApi(APIView):
    """Stream a dataset file of the project's labelled chains (researchers and admins)."""

    @extend_schema(parameters=[OpenApiParameter("format", str, enum=FORMATS, required=True)],
                   responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request, slug):
        project = project_get_for_user(slug=slug, user=request.user, roles=MANAGE_ROLES)
        fmt = request.query_params.get("format", "")
        if fmt not in FORMATS:
            raise ValidationError({"format": f"'{fmt}' is not an export format; use one of {', '.join(FORMATS)}."})
        lines = export_lines(project=project, fmt=fmt)
        content = _async_chunks(lines) if isinstance(request._request, ASGIRequest) else lines
        extension = "json" if fmt == "processbench" else "jsonl"
        response = StreamingHttpResponse(content, content_type="application/json" if fmt == "processbench"
                                         else "application/jsonl")
        response["Content-Disposition"] = f'attachment; filename="{project.slug}-{fmt}.{extension}"'
        return response
