"""The remote command line (``weixin-gateway inbox:list`` ...) against a running gateway."""
