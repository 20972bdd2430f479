-- Closed round trips per book and strategy (the strategy of the order that opened the trade).
with trips as (
    select * from {{ ref('round_trips') }}
),

summed as (
    select
        book,
        strategy,
        count(*) as round_trips,
        sum(case when pnl > 0 then 1 else 0 end) as winners,
        sum(pnl) as total_pnl,
        sum(case when pnl > 0 then pnl else 0 end) as gross_profit,
        -sum(case when pnl < 0 then pnl else 0 end) as gross_loss,
        sum(commission) as commission,
        avg(return_pct) as avg_return,
        avg(holding_days) as avg_holding_days,
        min(entry_session) as first_entry,
        max(exit_session) as last_exit
    from trips
    group by book, strategy
)

select
    book,
    strategy,
    round_trips,
    winners,
    1.0 * winners / round_trips as win_rate,
    total_pnl,
    gross_profit,
    gross_loss,
    {{ safe_divide('gross_profit', 'gross_loss') }} as profit_factor,
    commission,
    avg_return,
    avg_holding_days,
    first_entry,
    last_exit
from summed
