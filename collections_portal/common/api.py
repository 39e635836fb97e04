from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import ConflictError


def exception_handler(exc, context):
    """Services raise Django's ValidationError and ConflictError; the API answers 400 and 409."""
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response(detail, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ConflictError):
        return Response(
            {
                "detail": exc.message,
                "current_version": getattr(exc.current, "version", None),
                "changed_fields": {k: {"yours": a, "theirs": b} for k, (a, b) in exc.changed_fields.items()},
            },
            status=status.HTTP_409_CONFLICT,
        )
    return drf_exception_handler(exc, context)
