-- The book's P&L per session: the change of marked-to-market equity, split into what closed trades realized
-- and what the session's fills cost. The first session of a book has no previous equity, hence no P&L.
with equity as (
    select * from {{ ref('stg_equity') }}
),

realized as (
    select book, exit_session as session, sum(pnl) as realized_pnl, count(*) as closed_round_trips
    from {{ ref('round_trips') }}
    group by book, exit_session
),

trading as (
    select book, session, count(*) as fills, sum(commission) as commission, sum(notional) as traded_notional
    from {{ ref('stg_fills') }}
    group by book, session
),

marked as (
    select
        e.book,
        e.session,
        e.cash,
        e.positions_value,
        e.equity,
        lag(e.equity) over (partition by e.book order by e.session) as previous_equity,
        e.drawdown
    from equity as e
)

select
    m.book,
    m.session,
    m.cash,
    m.positions_value,
    m.equity,
    m.previous_equity,
    m.equity - m.previous_equity as pnl,
    {{ safe_divide('m.equity - m.previous_equity', 'm.previous_equity') }} as daily_return,
    coalesce(r.realized_pnl, 0) as realized_pnl,
    coalesce(r.closed_round_trips, 0) as closed_round_trips,
    coalesce(t.fills, 0) as fills,
    coalesce(t.commission, 0) as commission,
    coalesce(t.traded_notional, 0) as traded_notional,
    m.drawdown
from marked as m
left join realized as r on r.book = m.book and r.session = m.session
left join trading as t on t.book = m.book and t.session = m.session
