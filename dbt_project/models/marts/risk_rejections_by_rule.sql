-- What the risk engine, the blocking checks and the data checks refused or cut, per book, step and rule.
select
    book,
    source,
    rule,
    action,
    count(*) as events,
    count(distinct symbol) as symbols,
    count(distinct session) as sessions,
    min(session) as first_session,
    max(session) as last_session,
    avg(value) as avg_value,
    max(value) as max_value,
    max(limit_value) as limit_value
from {{ ref('stg_risk_events') }}
where action <> 'info'
group by book, source, rule, action
