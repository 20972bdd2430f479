-- Marked-to-market book value after each session's close.
select
    book,
    {{ as_date('session') }} as session,
    cash,
    positions_value,
    equity,
    peak_equity,
    drawdown,
    run_id
from {{ source('journal', 'equity') }}
{{ committed_rows() }}
