"""ASGI entry point: HTTP through Django, websockets through Channels (`daphne config.asgi:application`)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from annotation.routing import websocket_urlpatterns as annotation_websockets  # noqa: E402
from oversight.routing import websocket_urlpatterns as oversight_websockets  # noqa: E402

from .limits import BodyLimit  # noqa: E402
from .security import OriginValidator  # noqa: E402

# BodyLimit refuses oversized bodies before Django reads them; OriginValidator checks a websocket's
# Origin against this site's host and port (config/security.py).
application = BodyLimit(ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": OriginValidator(AuthMiddlewareStack(URLRouter(annotation_websockets + oversight_websockets))),
    }
))
