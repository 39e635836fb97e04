"""Signing in with Django's ModelBackend, and a signed-in request's user read with its memberships.

Every staff request asks who the user is (the session's user id → a row) and then where they
work (institutions.selectors.memberships_for). Two ORM queries were a third of an API list
request; this backend reads both in one precomposed statement and leaves the memberships on the
user object, where memberships_for finds them. Sign-in and permissions are ModelBackend's.
"""

from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db import connection

from .models import Membership
from .selectors import MEMBERSHIPS_ATTR


@cache
def _user_statement() -> tuple[str, tuple[str, ...]]:
    user_model = get_user_model()
    fields = user_model._meta.concrete_fields
    quote = connection.ops.quote_name
    user_table, membership_table = quote(user_model._meta.db_table), quote(Membership._meta.db_table)
    membership = f"FROM {membership_table} m WHERE m.user_id = u.{quote(user_model._meta.pk.column)} ORDER BY m.id"
    statement = (
        f"SELECT {', '.join('u.' + quote(f.column) for f in fields)}, "
        f"ARRAY(SELECT m.institution_id {membership}), ARRAY(SELECT m.role::text {membership}) "
        f"FROM {user_table} u WHERE u.{quote(user_model._meta.pk.column)} = %s"
    )
    return statement, tuple(f.attname for f in fields)


class MembershipModelBackend(ModelBackend):
    def get_user(self, user_id):
        statement, attnames = _user_statement()
        with connection.cursor() as cursor:
            cursor.execute(statement, [user_id])
            row = cursor.fetchone()
        if row is None:
            return None
        user = get_user_model().from_db(connection.alias, attnames, row[:-2])
        setattr(user, MEMBERSHIPS_ATTR, list(zip(row[-2], row[-1])))
        return user if self.user_can_authenticate(user) else None
