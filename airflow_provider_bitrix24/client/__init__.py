"""Bitrix24 REST client core: pure Python, no Airflow import (see docs/architecture.md)."""

from .auth import (
    DEFAULT_TOKEN_URL,
    Auth,
    FileTokenStore,
    MemoryTokenStore,
    OAuth2Auth,
    StaticTokenAuth,
    TokenPair,
    TokenStore,
    WebhookAuth,
)
from .client import BatchResult, Bitrix24Client, normalize_portal_url
from .encoding import BatchRef, Bitrix24UnsendableValue, result_ref
from .errors import (
    Bitrix24AccessDenied,
    Bitrix24AuthError,
    Bitrix24BadRequest,
    Bitrix24ConfigError,
    Bitrix24Error,
    Bitrix24NotFound,
    Bitrix24NotSupported,
    Bitrix24OperationLimit,
    Bitrix24PortalMoved,
    Bitrix24RateLimited,
    Bitrix24ServerError,
    Bitrix24TokenExpired,
    Bitrix24TransportError,
    Bitrix24WriteMayHaveSucceeded,
)
from .paging import Bitrix24PagingError
from .ratelimit import LeakyBucket

__all__ = [
    "DEFAULT_TOKEN_URL",
    "Auth",
    "BatchRef",
    "BatchResult",
    "Bitrix24AccessDenied",
    "Bitrix24AuthError",
    "Bitrix24BadRequest",
    "Bitrix24Client",
    "Bitrix24ConfigError",
    "Bitrix24Error",
    "Bitrix24NotFound",
    "Bitrix24NotSupported",
    "Bitrix24OperationLimit",
    "Bitrix24PagingError",
    "Bitrix24PortalMoved",
    "Bitrix24RateLimited",
    "Bitrix24ServerError",
    "Bitrix24TokenExpired",
    "Bitrix24TransportError",
    "Bitrix24UnsendableValue",
    "Bitrix24WriteMayHaveSucceeded",
    "FileTokenStore",
    "LeakyBucket",
    "MemoryTokenStore",
    "OAuth2Auth",
    "StaticTokenAuth",
    "TokenPair",
    "TokenStore",
    "WebhookAuth",
    "normalize_portal_url",
    "result_ref",
]
