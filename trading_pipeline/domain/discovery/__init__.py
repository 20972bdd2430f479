"""Symbol discovery: a point-in-time universe, pickers that suggest symbols from it, their ensemble, and the
later scoring of every suggestion against the equal-weight universe.

Everything is a pure function of a long bars panel over all sessions at once (a backfill computes every
session in one pass); the row of session D uses only bars dated before D, so the universe and watchlist of a
session never change when later bars arrive.
"""
