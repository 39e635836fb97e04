from django.contrib.postgres.operations import BtreeGistExtension, TrigramExtension
from django.db import migrations


class Migration(migrations.Migration):
    """Extensions both PostgreSQL 15 (CI) and the embedded 18 ship; no ltree, no unaccent."""

    initial = True
    dependencies = []
    operations = [TrigramExtension(), BtreeGistExtension()]
