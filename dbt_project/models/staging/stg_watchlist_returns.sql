-- What happened after each watchlist entry: its return over `horizon` sessions and the equal-weight universe's,
-- journaled by the run of the session after the window closed (never earlier).
select
    book,
    {{ as_date('suggested_on') }} as suggested_on,
    symbol,
    cast(horizon as integer) as horizon,
    forward_return,
    universe_return,
    {{ as_date('session') }} as known_on
from {{ source('journal', 'watchlist_returns') }}
{{ committed_rows() }}
