-- One row per execution; journal_seq orders the fills of one session as they were written.
select
    fill_id,
    client_order_id,
    book,
    {{ as_date('session') }} as session,
    run_id,
    symbol,
    side,
    qty,
    price,
    commission,
    slippage,
    qty * price as notional,
    id as journal_seq
from {{ source('journal', 'fills') }}
{{ committed_rows() }}
