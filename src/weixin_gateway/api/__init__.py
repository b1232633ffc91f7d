"""The HTTP interfaces of weixin-gateway (ASGI apps over the gateway services).

* :mod:`.mp_app` — :func:`create_mp_app`: the Official Account gateway (go-wx-gateway's routes)
* :mod:`.mp_endpoints` — go-wx-gateway's ``common-endpoints``
* :mod:`.errors` — plain-ASGI error shield and Go-like 404/405 answers
* :mod:`.server` — logging set-up, credential redaction, uvicorn on a socket (shared by every
  service this package runs)
"""

from __future__ import annotations

from weixin_gateway.api.errors import ErrorShield, install_error_handlers
from weixin_gateway.api.mp_app import create_mp_app
from weixin_gateway.api.server import AppServer, configure_logging, serve

__all__ = [
    "AppServer",
    "ErrorShield",
    "configure_logging",
    "create_mp_app",
    "install_error_handlers",
    "serve",
]
