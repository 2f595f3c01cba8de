"""One exception handler: domain errors become responses that say what was wrong and how to fix it."""

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..exceptions import StepwiseError
from ..formats import FileRefused


def exception_handler(exc, context):
    if isinstance(exc, FileRefused):
        return Response({"detail": f"{exc.filename or 'The file'} was refused; nothing was imported. Fix the "
                                   "rows listed in 'errors' and upload it again.",
                         "errors": [e.as_dict() for e in exc.errors]}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, StepwiseError):
        body = {"detail": exc.message}
        if exc.field:
            body["field"] = exc.field
        return Response(body, status=exc.status_code)
    return drf_exception_handler(exc, context)
