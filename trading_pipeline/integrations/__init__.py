"""Dagster-free clients of the real providers (Alpaca, yfinance): rate limiting, retries, caching, order translation."""
