from celery import shared_task
from django.db import connection


@shared_task(name="portal.health_check", ignore_result=False, acks_late=True)
def health_check_task(token: str) -> dict:
    """Proves the whole path: broker → worker → Django settings → database → result backend."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database(), version()")
        database, version = cursor.fetchone()
    return {"token": token, "database": database, "postgres": version.split(",")[0]}
