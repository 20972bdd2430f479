-- What the model calls cost and how they ended, per book, step, provider and model.
select
    book,
    step,
    provider,
    model,
    count(*) as calls,
    sum(case when outcome = 'ok' then 1 else 0 end) as ok_calls,
    sum(case when outcome in ('invalid', 'error') then 1 else 0 end) as failed_calls,
    sum(case when outcome in ('fallback', 'budget') then 1 else 0 end) as deterministic_fallbacks,
    sum(case when outcome = 'cached' then 1 else 0 end) as cache_hits,
    sum(total_tokens) as tokens,
    avg(latency_ms) as avg_latency_ms,
    max(latency_ms) as max_latency_ms
from {{ ref('stg_llm_calls') }}
group by book, step, provider, model
