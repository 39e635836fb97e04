"""Every setting, read from the environment (see .env.example). Other modules only adjust."""

import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)  # optional, never committed


def _require_url(name: str, hint: str) -> str:
    value = env.str(name, default="")
    if not value:
        # One clear line instead of Django's ImproperlyConfigured traceback.
        sys.exit(f"error: {name} is not set. {hint}")
    return value


SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="insecure-local-only-key-change-me-9f3b2c7d1e")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# The host part of every occurrenceID we mint; it must never change once records are published.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
# The portal's name on its pages, feeds, download metadata and citations.
SITE_NAME = "The Impossible Museum"
# The public search map (static/js/search_map.js): empty = the bundled Natural Earth outlines, which
# work offline; production may name a tile server, e.g. https://tiles.example.org/{z}/{x}/{y}.png
# (the CSP's img-src already allows https:).
PORTAL_MAP_TILE_URL = env.str("PORTAL_MAP_TILE_URL", default="")
PORTAL_MAP_TILE_ATTRIBUTION = env.str("PORTAL_MAP_TILE_ATTRIBUTION", default="")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "pgtrigger",
    "pghistory",
    "pghistory.admin",
    "axes",
    "collections_portal.common",
    "institutions",
    "specimens",
    "imports",
    "imaging",
    "publishing",
    "digitisation",
    "portal",
]

MIDDLEWARE = [
    # First: a NUL or broken UTF-8 in the path or query is a 400 before anything reads them.
    "collections_portal.common.middleware.RequestCharactersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "collections_portal.common.csp.CSPMiddleware",  # django-csp's, the site policy built once
    # Stamps every audit event written during a request with the user and URL.
    "pghistory.middleware.HistoryMiddleware",
    # Last, as django-axes asks: turns a refused sign-in into our lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "collections_portal.urls"
WSGI_APPLICATION = "collections_portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "collections_portal.common.context_processors.portal",
            ],
        },
    },
]

# Content Security Policy: scripts only from our own static files (no inline script, no CDN).
# Inline style attributes stay allowed: progress bars set their width that way.
from csp.constants import NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, "'unsafe-inline'"],
        # https: thumbnails of media an import linked from elsewhere (Specimen.external_media), shown
        # by the visitor's browser with no referrer; we never fetch them ourselves.
        "img-src": [SELF, "data:", "blob:", "https:"],
        "connect-src": [SELF],
        "font-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}

# --- Data stores: PostgreSQL and Redis only (the launcher provides both when unset) -----------
DATABASE_URL = _require_url(
    "DATABASE_URL",
    "Use `make run` / `make test` (they start the embedded PostgreSQL), "
    "or set DATABASE_URL=postgresql://user@host:5432/dbname.",
)
if urlsplit(DATABASE_URL).scheme not in ("postgres", "postgresql", "pgsql"):
    sys.exit("error: DATABASE_URL must be a postgresql:// URL; the portal runs on PostgreSQL only.")
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
# A unix-socket directory travels URL-encoded in the host part (the embedded server uses one).
DATABASES["default"]["HOST"] = unquote(DATABASES["default"].get("HOST") or "")
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Statements run through collections_portal.common.db.fetch_prepared are prepared on the server
# after this many runs on a connection ("off": never, e.g. behind PgBouncer in transaction mode
# before 1.21). Django's own cursors bind on the client and never prepare.
_prepare = env.str("DATABASE_PREPARE_THRESHOLD", default="2").strip().lower()
DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = None if _prepare in ("", "off", "none") else int(_prepare)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = _require_url(
    "REDIS_URL",
    "Use `make run` / `make test` (they start the embedded Redis), or set REDIS_URL=redis://host:6379/0.",
)


def celery_broker_url(redis_url: str) -> str:
    """Kombu spells a unix socket `redis+socket://PATH?virtual_host=DB`; redis-py `unix://PATH?db=DB`."""
    parts = urlsplit(redis_url)
    if parts.scheme != "unix":
        return redis_url
    db = parse_qs(parts.query).get("db", ["0"])[0]
    return f"redis+socket://{parts.path}?virtual_host={db}"


CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# --- Celery: long tasks acknowledged late, one at a time per process -------------------------
CELERY_BROKER_URL = celery_broker_url(REDIS_URL)
CELERY_RESULT_BACKEND = CELERY_BROKER_URL
CELERY_TASK_IGNORE_RESULT = True  # task state lives in our rows; only a few tasks keep a result
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 900
CELERY_TASK_SOFT_TIME_LIMIT = 840
# Above twice the hard limit, so a late-acked long task is not redelivered while still running.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_RESULT_EXPIRES = 3600
# Queues: short work, image processing, bulk imports/exports; long tasks never block short ones.
# A prefix keeps concurrent test runs sharing one Redis apart.
CELERY_QUEUE_PREFIX = env.str("CELERY_QUEUE_PREFIX", default="")
CELERY_QUEUES_ALL = [f"{CELERY_QUEUE_PREFIX}{q}" for q in ("default", "imaging", "bulk")]
CELERY_TASK_DEFAULT_QUEUE = f"{CELERY_QUEUE_PREFIX}default"
CELERY_TASK_ROUTES = {
    "imaging.*": {"queue": f"{CELERY_QUEUE_PREFIX}imaging"},
    "bulk.*": {"queue": f"{CELERY_QUEUE_PREFIX}bulk"},
}
CELERY_WORKER_MAX_MEMORY_PER_CHILD = 600_000  # KiB
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# An image task holds a lease on its row, renewed every IMAGING_LEASE_RENEW_SECONDS while it
# works; the lease of a task that died lapses after IMAGING_LEASE_SECONDS. A third of the lease
# per renewal lets two renewals in a row fail before a live task loses its image.
IMAGING_LEASE_SECONDS = 30
IMAGING_LEASE_RENEW_SECONDS = 10
# An unsettled image with no live lease, sent longer ago than this, is sent again (a lost message).
IMAGING_REQUEUE_PATIENCE_SECONDS = 30 * 60
# Import batches hold the same kind of lease (imports.batches): renewed every 10 s, lapsed
# 30 s after its task died; then the import runs again from the start (a killed write leaves
# nothing), at most IMPORT_MAX_ATTEMPTS times in all. A batch waiting in the queue longer than the
# patience with no live lease is sent again (a lost message; a duplicate finds it settled).
IMPORT_LEASE_SECONDS = 30
IMPORT_LEASE_RENEW_SECONDS = 10
IMPORT_MAX_ATTEMPTS = 3
IMPORT_REQUEUE_PATIENCE_SECONDS = 30 * 60
from celery.schedules import crontab  # noqa: E402

# Periodic work, sent by one `celery beat` process. Short jobs go to the default queue, so a
# backlog of images never delays them.
CELERY_BEAT_SCHEDULE = {
    # Images whose lease lapsed (a killed worker) are queued again: each worker start does it
    # too, so after a crash an image waits at most one lease plus one beat interval.
    "imaging-reenqueue-stale": {
        "task": "imaging.image_asset_reenqueue_stale",
        "schedule": 30.0,
        "options": {"queue": CELERY_TASK_DEFAULT_QUEUE, "expires": 30},
    },
    # Import batches whose lease lapsed are run again (or failed after three starts), and staging
    # tables nobody works on are dropped; each worker start does it too.
    "imports-reenqueue-stale": {
        "task": "specimens.import_batch_reenqueue_stale",
        "schedule": 30.0,
        "options": {"queue": CELERY_TASK_DEFAULT_QUEUE, "expires": 30},
    },
    # Published records per collection for the public home, institution and collection pages,
    # recounted before the cached figure expires so no visitor waits for the GROUP BY (portal).
    "portal-published-counts-refresh": {
        "task": "portal.published_counts_refresh",
        "schedule": 300.0,
        "options": {"queue": CELERY_TASK_DEFAULT_QUEUE, "expires": 300},
    },
    # Facts from lower tables (specimen history, image links) → DigitisationEvent → DailyStat,
    # each above its watermark (digitisation.services.rollups_refresh); the dashboard reads only rollups.
    "digitisation-rollups-refresh": {
        "task": "digitisation.rollups_refresh",
        "schedule": 300.0,
        "options": {"queue": CELERY_TASK_DEFAULT_QUEUE, "expires": 300},
    },
    # The one daily pass over the specimen table: MIDS levels, statuses, failing elements per collection.
    "digitisation-snapshots-take": {
        "task": "digitisation.snapshots_take",
        "schedule": crontab(hour=2, minute=30),
        "options": {"queue": f"{CELERY_QUEUE_PREFIX}bulk", "expires": 6 * 3600},
    },
    # Auto-published datasets that are due get a build that makes a version only if their records
    # or metadata changed (else "no change" is recorded); publishing.services.datasets_auto_publish.
    "publishing-auto-publish": {
        "task": "publishing.datasets_auto_publish",
        "schedule": 900.0,
        "options": {"queue": CELERY_TASK_DEFAULT_QUEUE, "expires": 900},
    },
    # Dataset versions and downloads whose lease lapsed (a killed worker) or whose message was lost
    # are sent again; after three starts one fails with the reason.
    "publishing-reenqueue-stale": {
        "task": "publishing.dataset_versions_reenqueue_stale",
        "schedule": 30.0,
        "options": {"queue": CELERY_TASK_DEFAULT_QUEUE, "expires": 30},
    },
    # Search downloads past their keeping time (DOWNLOAD_KEEP_DAYS) lose their files.
    "publishing-downloads-expire": {
        "task": "publishing.downloads_expire",
        "schedule": 3600.0,
        "options": {"queue": CELERY_TASK_DEFAULT_QUEUE, "expires": 3600},
    },
}
# Publishing (publishing/jobs.py): the same lease as imports; a download's file is kept this long.
PUBLISHING_LEASE_SECONDS = 30
PUBLISHING_LEASE_RENEW_SECONDS = 3
PUBLISHING_MAX_ATTEMPTS = 3
DOWNLOAD_KEEP_DAYS = 7

# --- Files ------------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / ".local" / "media")
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:  # any S3-compatible store; credentials come from the environment
    AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default=None)
    AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", default=None)
    AWS_DEFAULT_ACL = None
    AWS_S3_FILE_OVERWRITE = False
    DEFAULT_STORAGE = {"BACKEND": "storages.backends.s3.S3Storage"}
else:
    DEFAULT_STORAGE = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": DEFAULT_STORAGE,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Development and tests serve static files straight from the finders (no collectstatic needed).
WHITENOISE_AUTOREFRESH = env.bool("WHITENOISE_AUTOREFRESH", default=False)
WHITENOISE_USE_FINDERS = WHITENOISE_AUTOREFRESH
# Browser uploads for import wait here (private, shared with the workers) until the import ran.
IMPORT_SPOOL_DIR = env.path("IMPORT_SPOOL_DIR", default=BASE_DIR / ".local" / "imports")
IMPORT_MAX_UPLOAD_MB = env.int("IMPORT_MAX_UPLOAD_MB", default=1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = 10_485_760

# --- People -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in lockout (django-axes): after LOGIN_FAILURE_LIMIT failures within the cool-off, the
# account is locked whatever the address, and the address whatever the account. Any attempt
# during a lockout restarts the cool-off. Operators unlock with `manage.py axes_reset_username`.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses a locked sign-in before the password check
    # ModelBackend, whose per-request user load also reads the user's memberships (one query).
    "institutions.backends.MembershipModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each counted on its own
AXES_LOCKOUT_CALLABLE = "collections_portal.common.login.login_locked_out"
AXES_CLIENT_IP_CALLABLE = "collections_portal.common.login.client_ip_address"
# How many reverse proxies of ours append to X-Forwarded-For; 0 trusts only the socket address.
TRUSTED_PROXY_COUNT = env.int("DJANGO_TRUSTED_PROXY_COUNT", default=0)
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # one row per failure, kept after the lockout ends
AXES_SENSITIVE_PARAMETERS = []  # log the account and address (never the password) so they can be unlocked
AXES_RESET_ON_SUCCESS = False  # else one valid account would clear its address's count

LOGIN_URL = "login"
# Managers land on their dashboard, everyone else on the work list (digitisation.views.landing).
LOGIN_REDIRECT_URL = "digitisation:landing"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

# --- API --------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    # JSON refused past 100 levels of nesting, before it is decoded (a RecursionError otherwise).
    "DEFAULT_PARSER_CLASSES": [
        "collections_portal.common.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # DRF's JSON, written by orjson (a tenth of a 100-row list request).
    "DEFAULT_RENDERER_CLASSES": [
        "collections_portal.common.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PAGINATION_CLASS": "collections_portal.common.pagination.KeysetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "collections_portal.common.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "collections_portal.common.throttling.PortalRateThrottle",
    ],
    # Anonymous callers are told apart by the address our own proxies saw, never a client's XFF.
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "DEFAULT_THROTTLE_RATES": {"anon": env.str("API_ANON_RATE", default="120/minute"),
                               "user": env.str("API_USER_RATE", default="1200/minute")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Impossible Museum collections API",
    "DESCRIPTION": "Institutions, collections, specimens (Darwin Core) and taxa. "
    "Anonymous callers see published records; staff see their institutions' records.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the drf-spectacular-sidecar wheel: no CDN at run time.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # axes: lockouts and failed sign-ins are warnings; its per-login chatter is info.
    "loggers": {"pgserver": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}

# --- Audit: inserts, updates and deletes of every tracked model, written by triggers -----------
import pghistory  # noqa: E402

PGHISTORY_DEFAULT_TRACKERS = (pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
# Requests that may write get the user/url context; GETs do not write, and the context would
# otherwise be injected into every read query (benchmarks/api_list.py).
PGHISTORY_MIDDLEWARE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
