"""Authentication for the API: bearer API keys, and librarians' admin sessions."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import (
    BaseAuthentication,
    SessionAuthentication,
    get_authorization_header,
)
from rest_framework.exceptions import AuthenticationFailed

from tenants.access import KeyPrincipal
from tenants.models import ApiKey, hash_api_key

MAX_KEY_LENGTH = 200


class BearerKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer <key>`. A wrong, revoked or expired key is a 401, never a pass."""

    keyword = b"bearer"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword:
            return None
        if len(header) != 2:
            raise AuthenticationFailed(
                "Malformed Authorization header: expected 'Bearer <key>'.", code="invalid_api_key"
            )
        try:
            raw_key = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("Invalid API key.", code="invalid_api_key") from None
        if len(raw_key) > MAX_KEY_LENGTH:
            raise AuthenticationFailed("Invalid API key.", code="invalid_api_key")
        api_key = ApiKey.objects.select_related("tenant").filter(key_hash=hash_api_key(raw_key)).first()
        if api_key is None:
            raise AuthenticationFailed("Invalid API key.", code="invalid_api_key")
        # The holder of the key may learn why it stopped working; nobody else reaches here.
        if api_key.revoked:
            raise AuthenticationFailed("This API key has been revoked.", code="revoked_api_key")
        if api_key.is_expired:
            raise AuthenticationFailed("This API key has expired.", code="expired_api_key")
        api_key.touch()
        return KeyPrincipal(api_key), api_key

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="olcs"'


class LibrarianSessionAuthentication(SessionAuthentication):
    """A librarian logged in to the admin uses the browsable API with the same session.

    What they may see is decided by their memberships (tenants.access), not here.
    """


# How the OpenAPI schema names the two ways in (drf-spectacular registers an extension when
# its class is defined, so they live beside the classes they describe).
class BearerKeyScheme(OpenApiAuthenticationExtension):
    target_class = BearerKeyAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A library's or a platform API key."}


class LibrarianSessionScheme(OpenApiAuthenticationExtension):
    target_class = LibrarianSessionAuthentication
    name = "librarianSession"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
