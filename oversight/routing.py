from django.urls import path

from .consumers import OversightChainConsumer

websocket_urlpatterns = [path("ws/oversight/chains/<int:pk>/", OversightChainConsumer.as_asgi())]
