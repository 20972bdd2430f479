"""News without Dagster: which articles a session's decision may see (``visibility.py``), their lexicon
sentiment per (symbol, session) (``sentiment.py``) and the domain half of LLM scoring: the prompt that keeps
headlines as data and the validated answer (``llm_sentiment.py``)."""
