"""Domain errors that reach a page (not the API, whose exception handler answers them) become the page of
their status: a 404 or 403 with the message, never a 500."""

from django.core.exceptions import PermissionDenied as Forbidden
from django.http import Http404, HttpResponse
from django.utils.html import escape

from .exceptions import NotFound, PermissionDenied, StepwiseError


class StepwiseErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, StepwiseError):
            return None
        if isinstance(exception, NotFound):
            raise Http404(exception.message) from exception
        if isinstance(exception, PermissionDenied):
            raise Forbidden(exception.message) from exception
        return HttpResponse(f"<!doctype html><title>{exception.status_code}</title><p>{escape(exception.message)}</p>",
                            status=exception.status_code)
