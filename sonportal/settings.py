"""Settings for the SON portal. Every deploy-varying value comes from the environment.

.env.example lists every variable; README.md explains them.
"""

from pathlib import Path

from csp.constants import NONE, SELF

from sonportal.env import (
    env_bool,
    env_choice,
    env_confirmations,
    env_int,
    env_list,
    env_rate,
    env_secret,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = env_secret("SECRET_KEY")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    "csp",
    "rest_framework",
    "drf_spectacular",
    "django_htmx",
    "template_partials",
    "django_celery_beat",
    "sonportal",
    "audit",
    "ledger",
    "sons",
    "sidechains",
    "proposals",
    "rates",
    "mappings",
    "solvency",
    "accounts",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files from the web process itself (compressed, cached), before anything else runs.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "sonportal.middleware.APIBodyLimitMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "allauth.usersessions.middleware.UserSessionsMiddleware",
    "sonportal.middleware.NoStoreForSignedInMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "sonportal.middleware.SecondFactorRequiredMiddleware",
    "accounts.middleware.TimeZoneMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "sonportal.urls"
WSGI_APPLICATION = "sonportal.wsgi.application"

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
                "sonportal.roles.context_processor",
                "sonportal.context_processors.site",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": env_str("DATABASE_HOST", "127.0.0.1"),
        "PORT": env_int("DATABASE_PORT", 5432),
        "NAME": env_str("DATABASE_NAME", "sonportal"),
        "USER": env_str("DATABASE_USER", "sonportal"),
        "PASSWORD": env_secret("DATABASE_PASSWORD", required=False),
        "CONN_MAX_AGE": env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        "CONN_HEALTH_CHECKS": True,
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = ["allauth.account.auth_backends.AuthenticationBackend"]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "account_login"

# Accounts (django-allauth, docs/accounts.md): sign-up with a verified email address, login by
# username or email, one email address per person whose change is verified before it applies.
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_CHANGE_EMAIL = True
ACCOUNT_EMAIL_NOTIFICATIONS = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_PRESERVE_USERNAME_CASING = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[SON portal] "
# Failed logins per client address and per account (allauth's rate limits, counted in the cache
# below): slowed, then refused with "Too many failed login attempts".
# Logins per client address (allauth's default, 30/m/ip) are settable for the same reason.
ACCOUNT_RATE_LIMITS = {
    "login_failed": env_str("LOGIN_FAILED_LIMIT", "10/m/ip,5/5m/key"),
    "login": env_str("LOGIN_LIMIT", "30/m/ip"),
}
# Second factors: TOTP apps and WebAuthn security keys, with recovery codes. Administrators,
# witnesses and SON operators cannot act until they have one (sonportal/middleware.py).
MFA_SUPPORTED_TYPES = ["totp", "webauthn", "recovery_codes"]
MFA_TOTP_ISSUER = "SON portal"
# WebAuthn needs a secure origin; plain-HTTP local demos and test servers are allowed by this.
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = env_bool("MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN", DEBUG)
USERSESSIONS_TRACK_ACTIVITY = True

# Mail: SMTP (a local mail catcher in the demo and the tests, bin/stack.py).
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = env_str("EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD", required=False)
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "SON portal <portal@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Where people reach the portal: the links in notification mails (sent by workers, which have
# no request to take the address from).
PORTAL_URL = env_str("PORTAL_URL", "http://127.0.0.1:8000")
# The mail catcher's web inbox, linked from the demo's banner (empty: no banner link).
MAIL_CATCHER_URL = env_str("MAIL_CATCHER_URL", "")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
FORMAT_MODULE_PATH = ["sonportal.formats"]

STATIC_URL = "static/"
STATIC_ROOT = env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "sonportal" / "static"]
# WhiteNoise serves STATIC_ROOT once collectstatic has filled it (production, bin/demo); a
# checkout that never ran it (the tests) is served from the sources.
WHITENOISE_USE_FINDERS = not Path(STATIC_ROOT).is_dir()

# HTTPS and browser hardening (README "Production"; docs/decisions.md "Deployment defaults"):
# each is settable and on unless DEBUG, so that `check --deploy` is clean by default.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
# Opt-in, only behind a proxy that sets X-Forwarded-Proto itself: else a client claims https.
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("SECURE_PROXY_SSL_HEADER", False) else None
)
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
# The scheme of the links in account mails (verification, password reset).
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if SECURE_SSL_REDIRECT else "http"
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# No inline script or style anywhere (htmx's own indicator style is off: templates/_htmx.html).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
# Powerful browser features the portal never uses, off for it and anything it could embed.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer", "autoplay", "browsing-topics", "camera",
        "display-capture", "geolocation", "gyroscope", "hid", "magnetometer", "microphone",
        "midi", "payment", "serial", "usb", "xr-spatial-tracking",
    )
}  # fmt: skip

# Throttle counters live in Redis, in their own key space (never cache.clear(): it flushes the
# whole Redis database, the broker's queues included).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env_str("CACHE_URL", env_str("REDIS_URL")),
        "KEY_PREFIX": "sonportal-cache",
        # A Redis that does not answer fails a request in seconds instead of hanging it.
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}

REST_FRAMEWORK = {
    "EXCEPTION_HANDLER": "sonportal.exceptions.api_exception_handler",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # The browsable API is a debugging aid: JSON only in production.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    # Writes (POST, PUT, PATCH, DELETE) per SON, per user and per client address; reads are free.
    "DEFAULT_THROTTLE_CLASSES": [
        "sonportal.throttling.SignerWriteThrottle",
        "sonportal.throttling.UserWriteThrottle",
        "sonportal.throttling.AnonWriteThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "signer": env_rate("API_THROTTLE_SIGNER", "300/minute"),
        "user_write": env_rate("API_THROTTLE_USER", "60/minute"),
        "anon_write": env_rate("API_THROTTLE_ANON", "20/minute"),
    },
    # Proxies in front of the portal that append to X-Forwarded-For. 0: the client address is
    # REMOTE_ADDR (a client's own X-Forwarded-For would otherwise pick its throttle key).
    "NUM_PROXIES": env_int("NUM_PROXIES", 0, minimum=0),
}
# The API refuses request bodies larger than this before parsing them (sonportal/middleware.py).
# The largest legitimate body is a signer's answer to a 100 kB transaction: ~2,400 inputs, one
# signature of ~260 bytes of JSON each, ~630 KB.
API_MAX_BODY_BYTES = 768 * 1024
SPECTACULAR_SETTINGS = {
    "TITLE": "SON portal API",
    "DESCRIPTION": "Users, SON signers and scripts talk to the portal through this API.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Choice sets used by several serializers get one stable name.
    "ENUM_NAME_OVERRIDES": {
        "SONStatusEnum": "sons.models.SON.Status",
        "PeggedAssetEnum": ["pBTC", "pHIVE", "pHBD"],
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "sonportal.schema.add_error_answers",
    ],
}

# Celery: Redis broker and result backend; beat keeps its schedule in the database.
# (Not named CELERY_BROKER_URL: Celery reads that variable itself and lets it override the
# configuration of every app in the process.)
CELERY_BROKER_URL = env_str("REDIS_URL")
CELERY_RESULT_BACKEND = CELERY_BROKER_URL
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
# Write last_run_at after every task beat sends, so /healthz sees beat's pulse promptly.
CELERY_BEAT_SYNC_EVERY = 1

# Chains.
BITCOIN_NETWORK = env_choice("BITCOIN_NETWORK", ("mainnet", "testnet", "regtest"), "regtest")
BITCOIN_RPC_URL = env_str("BITCOIN_RPC_URL")
BITCOIN_RPC_USER = env_str("BITCOIN_RPC_USER", "")
BITCOIN_RPC_PASSWORD = env_secret("BITCOIN_RPC_PASSWORD", required=False)
BITCOIN_RPC_TIMEOUT = env_int("BITCOIN_RPC_TIMEOUT", 10, minimum=1)
# T: blocks after which a user can take back an unspent deposit with their own key
# (CHECKSEQUENCEVERIFY, relative; BIP68 caps it at 65535). ~30 days on mainnet.
BITCOIN_DEPOSIT_TIMELOCK = env_int("BITCOIN_DEPOSIT_TIMELOCK", 4320, minimum=1)
# Confirmations a deposit needs, by amount in satoshi: "limit:count,...,*:count" (first match of
# amount < limit). Default: < 0.1 BTC 2, < 1 BTC 3, else 6.
BITCOIN_CONFIRMATIONS = env_confirmations("BITCOIN_CONFIRMATIONS", "10000000:2,100000000:3,*:6")
# The listener: how often beat runs it, where a new install starts, how many block hashes it
# keeps for reorg detection.
BITCOIN_LISTENER_INTERVAL = env_int("BITCOIN_LISTENER_INTERVAL", 10, minimum=1)
BITCOIN_START_HEIGHT = env_int("BITCOIN_START_HEIGHT", -1, minimum=-1)
BITCOIN_REORG_DEPTH = env_int("BITCOIN_REORG_DEPTH", 100, minimum=6)
# Solvency (docs/deposits.md, "Sweeps and clawbacks"). A credited deposit whose block left the
# best chain and was not mined again within this many blocks is clawed back.
BITCOIN_CLAWBACK_WINDOW = env_int("BITCOIN_CLAWBACK_WINDOW", 6, minimum=1)
# Blocks before a deposit's reclaim height (its block + T) within which the portal no longer
# credits it, spends it in a withdrawal, or counts on a sweep: the depositor may race it.
BITCOIN_RECLAIM_MARGIN = env_int("BITCOIN_RECLAIM_MARGIN", 144, minimum=1)
# A credited deposit is swept into the federation's wallet by this many blocks after its own
# block (default T/4, never later than T - BITCOIN_RECLAIM_MARGIN); the alert for a deadline
# that cannot be met comes this many blocks before it.
BITCOIN_SWEEP_DEADLINE = env_int("BITCOIN_SWEEP_DEADLINE", 0, minimum=0)  # 0: T/4
BITCOIN_SWEEP_ALERT_BEFORE = env_int("BITCOIN_SWEEP_ALERT_BEFORE", 36, minimum=1)
BITCOIN_SWEEP_BATCH_SIZE = env_int("BITCOIN_SWEEP_BATCH_SIZE", 200, minimum=1)
# A rotation's sweeps: at most this many coins of an older federation version per transaction.
BITCOIN_ROTATION_BATCH_SIZE = env_int("BITCOIN_ROTATION_BATCH_SIZE", 100, minimum=1)
# A rotation's test spend or sweep sent and still unmined this many blocks later is fee-bumped.
BITCOIN_ROTATION_BUMP_AFTER_BLOCKS = env_int("BITCOIN_ROTATION_BUMP_AFTER_BLOCKS", 6, minimum=1)
# Reserves may fall short of liabilities by at most this many satoshi before the circuit
# breaker stops new batches (rounding of rates, dust).
BITCOIN_RESERVES_TOLERANCE = env_int("BITCOIN_RESERVES_TOLERANCE", 1_000, minimum=0)
# Withdrawals (docs/withdrawals.md): the smallest request in satoshi; the fee rate in sat/vB
# (estimatesmartfee, held between floor and cap); the largest batch; confirmations to settle.
BITCOIN_WITHDRAWAL_MINIMUM = env_int("BITCOIN_WITHDRAWAL_MINIMUM", 10_000, minimum=1_000)
BITCOIN_WITHDRAWAL_FEERATE_FLOOR = env_int("BITCOIN_WITHDRAWAL_FEERATE_FLOOR", 2, minimum=1)
BITCOIN_WITHDRAWAL_FEERATE_CAP = env_int("BITCOIN_WITHDRAWAL_FEERATE_CAP", 50, minimum=1)
BITCOIN_WITHDRAWAL_BATCH_SIZE = env_int("BITCOIN_WITHDRAWAL_BATCH_SIZE", 50, minimum=1)
BITCOIN_WITHDRAWAL_CONFIRMATIONS = env_int("BITCOIN_WITHDRAWAL_CONFIRMATIONS", 3, minimum=1)
# Seconds after its broadcast before an unconfirmed withdrawal transaction missing from the
# node's mempool is sent again, and before it gets a fee bump (docs/withdrawals.md).
BITCOIN_WITHDRAWAL_REBROADCAST_AFTER = env_int(
    "BITCOIN_WITHDRAWAL_REBROADCAST_AFTER", 600, minimum=1
)
BITCOIN_WITHDRAWAL_BUMP_AFTER = env_int("BITCOIN_WITHDRAWAL_BUMP_AFTER", 3600, minimum=1)
# The fee a withdrawal is quoted, and charged (docs/withdrawals.md, "The fee quote"): the share
# of a batch of one at today's rate plus this margin in percent, which keeps the fee pool
# positive; a quote is valid this many seconds.
BITCOIN_WITHDRAWAL_FEE_MARGIN = env_int("BITCOIN_WITHDRAWAL_FEE_MARGIN", 10, minimum=0)
BITCOIN_WITHDRAWAL_QUOTE_VALIDITY = env_int("BITCOIN_WITHDRAWAL_QUOTE_VALIDITY", 300, minimum=30)
# What a credited deposit pays for the sweep that will move it (docs/deposits.md, "The sweep
# fee"): a sweep of it alone at the rate in force when it is credited, plus this margin in
# percent; it goes to the fee pool, which pays the sweeps.
BITCOIN_DEPOSIT_FEE_MARGIN = env_int("BITCOIN_DEPOSIT_FEE_MARGIN", 10, minimum=0)
HIVE_NODE_URL = env_str("HIVE_NODE_URL", "")
# The Hive account the SONs control together: deposits are transfers to it.
HIVE_FEDERATION_ACCOUNT = env_str("HIVE_FEDERATION_ACCOUNT", "son-federation")
# The first block the Hive listener reads; -1: the last irreversible block when it first runs.
HIVE_START_BLOCK = env_int("HIVE_START_BLOCK", -1, minimum=-1)
HIVE_LISTENER_INTERVAL = env_int("HIVE_LISTENER_INTERVAL", 3, minimum=1)
# Hive withdrawals (docs/hive.md): the smallest in 0.001 units; a transaction's expiration after
# its reference block (at most 3600 s); the largest batch; rebuilds before a withdrawal fails.
HIVE_WITHDRAWAL_MINIMUM = env_int("HIVE_WITHDRAWAL_MINIMUM", 1000, minimum=1)
HIVE_TX_EXPIRATION = env_int("HIVE_TX_EXPIRATION", 600, minimum=30)
HIVE_WITHDRAWAL_BATCH_SIZE = env_int("HIVE_WITHDRAWAL_BATCH_SIZE", 50, minimum=1)
HIVE_TX_MAX_REBUILDS = env_int("HIVE_TX_MAX_REBUILDS", 5, minimum=0)
# Seconds a pending claim on a Hive account waits for its proof of control (docs/mappings.md).
HIVE_CLAIM_LIFETIME = env_int("HIVE_CLAIM_LIFETIME", 24 * 3600, minimum=60)
# Where a transaction id links to ({txid} in it); empty: no link. Defaults per network.
BITCOIN_EXPLORER_TX_URL = env_str(
    "BITCOIN_EXPLORER_TX_URL",
    {
        "mainnet": "https://mempool.space/tx/{txid}",
        "testnet": "https://mempool.space/testnet/tx/{txid}",
    }.get(BITCOIN_NETWORK, ""),
)
# A confirmed change of a withdraw address or Hive account: seconds during which withdrawals
# still pay the previous one, and seconds the mailed confirmation link works.
MAPPING_CHANGE_COOLDOWN = env_int("MAPPING_CHANGE_COOLDOWN", 24 * 3600, minimum=0)
MAPPING_CHANGE_CONFIRM_WITHIN = env_int("MAPPING_CHANGE_CONFIRM_WITHIN", 3600, minimum=60)

# SON liveness and governance, in seconds.
SON_HEARTBEAT_FREQUENCY = env_int("SON_HEARTBEAT_FREQUENCY", 180, minimum=1)
SON_DOWN_TIME = env_int("SON_DOWN_TIME", 360, minimum=1)
SON_DEREGISTER_TIME = env_int("SON_DEREGISTER_TIME", 12 * 3600, minimum=1)
WITNESS_CYCLE = env_int("WITNESS_CYCLE", 24 * 3600, minimum=1)
# The fewest SONs a federation version may have: below it the status panel asks for a
# replacement, and no rotation proposes a smaller set (docs/rotation.md).
FEDERATION_MIN_SIZE = env_int("FEDERATION_MIN_SIZE", 3, minimum=1)
# Seconds a SON's API token works after it was issued; the operator rotates it on the SON's page.
SON_TOKEN_LIFETIME = env_int("SON_TOKEN_LIFETIME", 90 * 24 * 3600, minimum=60)
# How often beat runs the liveness check (marks silent SONs down).
SON_LIVENESS_CHECK_EVERY = env_int("SON_LIVENESS_CHECK_EVERY", 30, minimum=1)
# How often beat runs the proposals tick (expiry, deregistration and refund proposals raised).
PROPOSALS_TICK_EVERY = env_int("PROPOSALS_TICK_EVERY", 60, minimum=1)

# Seconds between liabilities epochs (the Merkle sum tree of balances, docs/proofs.md).
SOLVENCY_EPOCH_INTERVAL = env_int("SOLVENCY_EPOCH_INTERVAL", 24 * 3600, minimum=60)
# Derives every epoch's per-account salts (docs/proofs.md, "The tree"); kept out of the
# database, so a copy of it cannot tell who holds what. No epoch is made without it.
SOLVENCY_SALT_KEY = env_secret("SOLVENCY_SALT_KEY", required=False, min_length=32)
# Seconds a signed transfer's message stays valid after the portal prepared it.
TRANSFER_MESSAGE_LIFETIME = env_int("TRANSFER_MESSAGE_LIFETIME", 15 * 60, minimum=60)

# Seconds between beat's runs of the health checks, which /healthz and the status panel read.
HEALTH_CHECK_EVERY = env_int("HEALTH_CHECK_EVERY", 15, minimum=1)
# Seconds after which the stored checks are reported stale (and /healthz says fail).
HEALTH_STALE_AFTER = env_int("HEALTH_STALE_AFTER", 60, minimum=1)
# How long the health check waits for a worker to answer its round trip through the broker.
HEALTH_BROKER_TIMEOUT = env_int("HEALTH_BROKER_TIMEOUT", 5, minimum=1)
# Monitoring's bearer token for /healthz's details (anonymous callers see only up or down).
HEALTH_TOKEN = env_secret("HEALTH_TOKEN", required=False, min_length=32)
# Seconds anonymous callers get the same up-or-down answer (0: none is kept).
HEALTH_PUBLIC_CACHE = env_int("HEALTH_PUBLIC_CACHE", 10, minimum=0)
# Seconds the ledger check's result is kept (it sums every entry; 0: every time).
HEALTH_LEDGER_CACHE = env_int("HEALTH_LEDGER_CACHE", 60, minimum=0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
