from django.core.exceptions import ValidationError


def form_errors_add(form, exc: ValidationError) -> None:
    """Shows a service's ValidationError on the form: beside its field where the form has one, else at the top."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)
