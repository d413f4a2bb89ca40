from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer


class AlwaysJSON(BaseContentNegotiation):
    """Every answer is JSON, whatever the Accept header says: never 406."""

    renderer = JSONRenderer()

    def select_parser(self, request, parsers):
        content_type = request.content_type or ""
        media = content_type.split(";", 1)[0].strip().lower()
        if media.startswith("application/") and media.endswith("+json"):
            # e.g. application/vnd.pterodactyl.v1+json: JSON by its structured suffix.
            media = "application/json"
        for parser in parsers:
            if parser.media_type == media:
                return parser
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        return self.renderer, self.renderer.media_type
