-- Did discovery pick well? Per book, picker and horizon: the watchlist entries each picker selected (the ensemble:
-- every entry), the share of those with known returns that beat the equal-weight universe over the same window,
-- their mean return against it, and the share of the entries the book bought on that session (suggestion to
-- trade). An entry whose window has not closed yet counts as a suggestion, not as a hit or a miss.
with entries as (
    select book, session, symbol, 'ensemble' as picker from {{ ref('stg_watchlist') }}
    union all
    select book, session, symbol, 'metric' as picker from {{ ref('stg_watchlist') }} where pickers like '%metric%'
    union all
    select book, session, symbol, 'fuzzy' as picker from {{ ref('stg_watchlist') }} where pickers like '%fuzzy%'
    union all
    select book, session, symbol, 'llm' as picker from {{ ref('stg_watchlist') }} where pickers like '%llm%'
),

bought as (
    select distinct book, session, symbol
    from {{ ref('stg_orders') }}
    where side = 'buy'
),

traded as (
    select
        e.book,
        e.picker,
        count(*) as suggestions,
        sum(case when b.symbol is not null then 1 else 0 end) as traded
    from entries as e
    left join bought as b
        on b.book = e.book and b.session = e.session and b.symbol = e.symbol
    group by e.book, e.picker
),

scored as (
    select
        e.book,
        e.picker,
        r.horizon,
        r.forward_return - r.universe_return as excess,
        r.forward_return
    from entries as e
    inner join {{ ref('stg_watchlist_returns') }} as r
        on r.book = e.book and r.suggested_on = e.session and r.symbol = e.symbol
    where r.forward_return is not null and r.universe_return is not null
)

select
    s.book,
    s.picker,
    s.horizon,
    t.suggestions,
    count(*) as scored,
    {{ safe_divide('1.0 * sum(case when s.excess > 0 then 1 else 0 end)', 'count(*)') }} as hit_rate,
    avg(s.forward_return) as mean_return,
    avg(s.excess) as mean_excess_return,
    {{ safe_divide('1.0 * t.traded', 't.suggestions') }} as trade_rate
from scored as s
inner join traded as t
    on t.book = s.book and t.picker = s.picker
group by s.book, s.picker, s.horizon, t.suggestions, t.traded
