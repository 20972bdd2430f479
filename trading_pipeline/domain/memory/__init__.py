"""Memory of past setups without Dagster: each (symbol, session) context as a numeric vector
(``vectors.py``), its outcome and when that outcome became known (``outcomes.py``), an exact k-nearest
search that only sees what was known on the query's session (``store.py``), the neighbours' figures against
a date-matched baseline (``summary.py``), the validation check built on them (``check.py``) and its
walk-forward study (``study.py``)."""
