-- The strategy chosen for each book, session and symbol, by which provider, and why.
select
    book,
    {{ as_date('session') }} as session,
    symbol,
    strategy,
    provider,
    outcome,
    reason,
    run_id
from {{ source('journal', 'strategy_choices') }}
{{ committed_rows() }}
