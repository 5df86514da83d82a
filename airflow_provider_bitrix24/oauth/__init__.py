"""The first OAuth token pair for a Bitrix24 local or market application.

``python -m airflow_provider_bitrix24.oauth authorize --portal URL --client-id ID --client-secret S``
sends the user to the portal's consent page, receives the authorization code on the redirect URI
(a local listener for a localhost URI, or the address pasted back on stdin) and exchanges it for
the first access/refresh pair; see docs/connections.md. This package sits beside the operators:
it may use the hook and the client core, and nothing in them imports it.
"""

from .authorize import DEFAULT_REDIRECT_URI, AuthorizeError, authorize

__all__ = ["DEFAULT_REDIRECT_URI", "AuthorizeError", "authorize"]
