from django.conf import settings

SITE_NAME = "The Impossible Museum"


def portal(request):
    return {"PUBLIC_BASE_URL": settings.PUBLIC_BASE_URL, "SITE_NAME": SITE_NAME}
