"""Settings for the process the crash test kills: a pause after the archive is stored under its
final key and before the version row says `published`, the worst moment to die."""

from collections_portal.settings.test import *  # noqa: F403

PUBLISHING_BUILD_DELAY_SECONDS = 60
PUBLISHING_LEASE_SECONDS = 5
PUBLISHING_LEASE_RENEW_SECONDS = 1
