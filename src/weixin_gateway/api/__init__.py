"""The HTTP interfaces of weixin-gateway (ASGI apps over the gateway services).

* :mod:`.mp_app` — :func:`create_mp_app`: the Official Account gateway (go-wx-gateway's routes)
* :mod:`.mp_endpoints` — go-wx-gateway's ``common-endpoints``
* :mod:`.errors` — plain-ASGI error shield and Go-like 404/405 answers
* :mod:`.server` — logging set-up, credential redaction, uvicorn on a socket (shared by every
  service this package runs)

The names below are imported on first use (PEP 562), so that running one service (``serve``)
does not load the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from weixin_gateway._lazy import lazy_exports

if TYPE_CHECKING:
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

#: Where each name of ``__all__`` is defined.
_EXPORTS: dict[str, str] = {
    "AppServer": "weixin_gateway.api.server",
    "ErrorShield": "weixin_gateway.api.errors",
    "configure_logging": "weixin_gateway.api.server",
    "create_mp_app": "weixin_gateway.api.mp_app",
    "install_error_handlers": "weixin_gateway.api.errors",
    "serve": "weixin_gateway.api.server",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
