-- End-of-session holdings: one row per book, session and symbol held.
select
    book,
    {{ as_date('session') }} as session,
    symbol,
    qty,
    avg_price,
    close,
    market_value,
    qty * (close - avg_price) as unrealized_pnl,
    run_id
from {{ source('journal', 'positions') }}
{{ committed_rows() }}
