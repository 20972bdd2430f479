-- Closed round trips, matched first-in first-out per book and symbol: buy lots are closed by later sells in
-- order. Each lot and each sell is a [start, end) interval of the cumulative quantity on its side; every
-- overlap of a buy interval with a sell interval is one closed piece of a trade, of the overlap's quantity.
-- Commissions are allocated to each piece pro rata to its share of the fill. The book is long-only (a
-- singular test checks that sells never exceed the buys before them), so every sell closes a lot.
with fills as (
    select f.*, o.strategy
    from {{ ref('stg_fills') }} as f
    left join {{ ref('stg_orders') }} as o
        on o.client_order_id = f.client_order_id and o.book = f.book
),

legs as (
    select
        *,
        sum(qty) over (
            partition by book, symbol, side order by session, journal_seq rows between unbounded preceding and current row
        ) as lot_end
    from fills
),

buys as (select *, lot_end - qty as lot_start from legs where side = 'buy'),

sells as (select *, lot_end - qty as lot_start from legs where side = 'sell'),

matched as (
    select
        b.book,
        b.symbol,
        b.strategy,
        b.fill_id as entry_fill_id,
        s.fill_id as exit_fill_id,
        b.client_order_id as entry_order_id,
        s.client_order_id as exit_order_id,
        b.session as entry_session,
        s.session as exit_session,
        b.price as entry_price,
        s.price as exit_price,
        least(b.lot_end, s.lot_end) - greatest(b.lot_start, s.lot_start) as qty,
        b.commission / b.qty as entry_commission_per_share,
        s.commission / s.qty as exit_commission_per_share
    from buys as b
    inner join sells as s
        on s.book = b.book
        and s.symbol = b.symbol
        and s.lot_start < b.lot_end
        and b.lot_start < s.lot_end
)

select
    md5(entry_fill_id || '|' || exit_fill_id) as round_trip_id,
    book,
    symbol,
    strategy,
    entry_fill_id,
    exit_fill_id,
    entry_order_id,
    exit_order_id,
    entry_session,
    exit_session,
    {{ days_between('entry_session', 'exit_session') }} as holding_days,
    qty,
    entry_price,
    exit_price,
    qty * (exit_price - entry_price) as gross_pnl,
    qty * (entry_commission_per_share + exit_commission_per_share) as commission,
    qty * (exit_price - entry_price - entry_commission_per_share - exit_commission_per_share) as pnl,
    exit_price / entry_price - 1 as return_pct
from matched
where qty > {{ var('qty_epsilon') }}
