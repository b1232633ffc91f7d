"""The gateway services: everything between the HTTP layer and the protocol SDKs.

* :mod:`.mp_gateway` — :class:`MpGateway`: the Official Account gateway at run time (sessions,
  token store, API clients, one service per configured account)
* :mod:`.mp_service` — :class:`OfficialAccountService`: verification, pushes (single-flight,
  workers, reply budget, late replies), the OAuth redirect
* :mod:`.singleflight` — keyed single-flight with a short outcome cache
* :mod:`.upstream` — the HTTP seam towards the developer's own services
* :mod:`.userinfo` — go-wx-gateway's ``userInfo`` object and credential-free error texts
* :mod:`.http` — the outbound aiohttp sessions (pools, TLS, timeouts)

The names below are imported on first use (PEP 562), so that the iLink gateway (``serve``) does
not load the Official Account gateway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from weixin_gateway._lazy import lazy_exports

if TYPE_CHECKING:
    from weixin_gateway.gateway.http import HttpClientConfig, open_session
    from weixin_gateway.gateway.mp_gateway import MpGateway, MpGatewayConfig
    from weixin_gateway.gateway.mp_service import (
        HttpAnswer,
        OfficialAccountService,
        Outcome,
        ServiceTuning,
    )
    from weixin_gateway.gateway.singleflight import Flight, SingleFlight
    from weixin_gateway.gateway.upstream import RelayAnswer, Upstream, UpstreamAnswer

__all__ = [
    "Flight",
    "HttpAnswer",
    "HttpClientConfig",
    "MpGateway",
    "MpGatewayConfig",
    "OfficialAccountService",
    "Outcome",
    "RelayAnswer",
    "ServiceTuning",
    "SingleFlight",
    "Upstream",
    "UpstreamAnswer",
    "open_session",
]

#: Where each name of ``__all__`` is defined.
_EXPORTS: dict[str, str] = {
    "Flight": "weixin_gateway.gateway.singleflight",
    "HttpAnswer": "weixin_gateway.gateway.mp_service",
    "HttpClientConfig": "weixin_gateway.gateway.http",
    "MpGateway": "weixin_gateway.gateway.mp_gateway",
    "MpGatewayConfig": "weixin_gateway.gateway.mp_gateway",
    "OfficialAccountService": "weixin_gateway.gateway.mp_service",
    "Outcome": "weixin_gateway.gateway.mp_service",
    "RelayAnswer": "weixin_gateway.gateway.upstream",
    "ServiceTuning": "weixin_gateway.gateway.mp_service",
    "SingleFlight": "weixin_gateway.gateway.singleflight",
    "Upstream": "weixin_gateway.gateway.upstream",
    "UpstreamAnswer": "weixin_gateway.gateway.upstream",
    "open_session": "weixin_gateway.gateway.http",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
