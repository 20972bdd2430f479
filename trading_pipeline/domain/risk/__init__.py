"""The risk engine, one concern a module: ``limits`` (declared once), ``sizing`` (signals to orders), ``breaker``
(circuit breaker and daily loss), ``verification`` (the independent re-check behind the blocking asset checks; it never
imports ``sizing``) and ``events``."""
