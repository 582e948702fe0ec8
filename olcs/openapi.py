"""/openapi.json, generated and rendered once per process.

Apart from olcs.schema: drf-spectacular's views import the schema class of the settings,
which would import them back.
"""

from __future__ import annotations

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpResponse
from drf_spectacular.views import SpectacularJSONAPIView

# The rendered schema by renderer: the schema only changes with the code, and building it costs
# hundreds of milliseconds per anonymous call. Cleared when a test changes a setting.
SCHEMA_CACHE: dict[type, tuple[bytes, str, str]] = {}


@receiver(setting_changed)
def forget_schema(**kwargs) -> None:
    SCHEMA_CACHE.clear()


class CachedSchemaView(SpectacularJSONAPIView):
    """The OpenAPI schema, generated and rendered on the first call of each process."""

    def _get_version_parameter(self, request) -> None:
        # The API has no versions: a `?version=` would only make another schema to build and keep.
        return None

    def _get_schema_response(self, request) -> HttpResponse:
        renderer = request.accepted_renderer
        cached = SCHEMA_CACHE.get(type(renderer))
        if cached is None:
            response = super()._get_schema_response(request)
            response.accepted_renderer = renderer
            # The renderer's own media type: parameters a client adds (indent=) would vary the bytes.
            response.accepted_media_type = renderer.media_type
            response.renderer_context = self.get_renderer_context()
            content = response.rendered_content
            cached = (content, response["Content-Type"], response["Content-Disposition"])
            SCHEMA_CACHE[type(renderer)] = cached
        content, content_type, disposition = cached
        return HttpResponse(content, content_type=content_type, headers={"Content-Disposition": disposition})
