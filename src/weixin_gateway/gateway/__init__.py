"""The gateway services: everything between the HTTP layer and the protocol SDKs.

* :mod:`.mp_gateway` — :class:`MpGateway`: the Official Account gateway at run time (sessions,
  token store, API clients, one service per configured account)
* :mod:`.mp_service` — :class:`OfficialAccountService`: verification, pushes (single-flight,
  workers, reply budget, late replies), the OAuth redirect
* :mod:`.singleflight` — keyed single-flight with a short outcome cache
* :mod:`.upstream` — the HTTP seam towards the developer's own services
* :mod:`.userinfo` — go-wx-gateway's ``userInfo`` object and credential-free error texts
* :mod:`.http` — the outbound aiohttp sessions (pools, TLS, timeouts)
"""

from __future__ import annotations

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
