"""The ``weixin-gateway demo`` command."""
