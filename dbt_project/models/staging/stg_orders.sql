-- One row per order, as the execution step journaled it (status updated when a later run settles it).
select
    client_order_id,
    book,
    {{ as_date('session') }} as session,
    run_id,
    symbol,
    side,
    qty,
    order_type,
    limit_price,
    stop_price,
    ref_price,
    strategy,
    confidence,
    status,
    reason,
    id as journal_seq
from {{ source('journal', 'orders') }}
{{ committed_rows() }}
