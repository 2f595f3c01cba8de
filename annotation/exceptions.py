"""Domain errors raised by services; the API's exception handler maps them to responses."""


class StepwiseError(Exception):
    """Base: `message` says what is wrong and how to fix it; `field` names the input at fault."""

    status_code = 400

    def __init__(self, message: str, *, field: str = ""):
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationFailed(StepwiseError):
    status_code = 400


class NotFound(StepwiseError):
    """The object does not exist or is outside the user's reach (both answer 404)."""

    status_code = 404


class PermissionDenied(StepwiseError):
    status_code = 403


class Conflict(StepwiseError):
    """The object changed since the client read it (optimistic lock), or the state forbids the action."""

    status_code = 409

