"""LLM steps without Dagster: validated answers, prompts that keep outside text as data, the call ledger
(cache, budget, circuit breaker, journaling) and the deterministic audit template."""
