-- The symbols each session's watchlist held, by rank, with the pickers that selected them (e.g. 'metric+llm').
select
    book,
    {{ as_date('session') }} as session,
    symbol,
    rank,
    score,
    pickers,
    reason,
    divergence,
    run_id
from {{ source('journal', 'watchlist') }}
{{ committed_rows() }}
