"""Local HTTP servers that speak the real providers' wire formats, for tests (Alpaca's is trading_pipeline.sandbox)."""
