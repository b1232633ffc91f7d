"""Benchmarks for weixin-gateway: ``python -m benchmarks run <scenario>``.

Every scenario starts the simulator, the gateway and a sink upstream as separate processes on
127.0.0.1, drives a bounded load, and writes JSON, a Markdown table and PNG plots to
``docs/benchmarks/``. See ``benchmarks/README.md``.
"""
