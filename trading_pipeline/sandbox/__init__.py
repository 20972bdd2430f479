"""A local, offline Alpaca: paper trading with broker-side exits on re-dated bundled bars, for tests and users.

``python -m trading_pipeline.sandbox`` runs it (see ``command``); tests start ``AlpacaSandbox`` in-process.
"""
