-- Did the chosen strategies make money? Each strategy choice (book, session, symbol) is joined to the round
-- trips that its orders opened (decided at that session's close, entered at a later open, closed FIFO), and
-- the realized returns are compared per provider, choice outcome (model, cache, fallback, rules, replay) and
-- strategy. A choice that led to no closed trade counts as a choice, not as a hit or a miss.
with entries as (
    select
        o.book,
        o.session,
        o.symbol,
        sum(rt.pnl) as realized_pnl,
        sum(rt.qty * rt.entry_price) as cost,
        count(*) as round_trips
    from {{ ref('round_trips') }} as rt
    inner join {{ ref('stg_orders') }} as o
        on o.client_order_id = rt.entry_order_id and o.book = rt.book
    group by o.book, o.session, o.symbol
),

choices as (
    select
        c.book,
        c.provider,
        c.outcome,
        c.strategy,
        e.round_trips,
        e.realized_pnl,
        {{ safe_divide('e.realized_pnl', 'e.cost') }} as realized_return
    from {{ ref('stg_strategy_choices') }} as c
    left join entries as e
        on e.book = c.book and e.session = c.session and e.symbol = c.symbol
)

select
    book,
    provider,
    outcome as choice_outcome,
    strategy,
    count(*) as choices,
    count(round_trips) as traded_choices,
    sum(case when realized_pnl > 0 then 1 else 0 end) as profitable_choices,
    {{ safe_divide('1.0 * sum(case when realized_pnl > 0 then 1 else 0 end)', 'count(round_trips)') }} as hit_rate,
    avg(realized_return) as avg_realized_return,
    coalesce(sum(realized_pnl), 0) as realized_pnl
from choices
group by book, provider, outcome, strategy
