from django.conf import settings


def portal(request):
    return {"PUBLIC_BASE_URL": settings.PUBLIC_BASE_URL, "SITE_NAME": settings.SITE_NAME}
