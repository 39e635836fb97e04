import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def fresh_counts():
    """The published counts live in the cache between refreshes; each test starts without them."""
    cache.clear()
    yield
    cache.clear()
