-- One row per call to a strategy-selection, review or audit model (the rule-based policy included).
select
    id as call_id,
    book,
    run_id,
    {{ as_date('session') }} as session,
    step,
    provider,
    model,
    prompt_hash,
    input_tokens,
    output_tokens,
    coalesce(input_tokens, 0) + coalesce(output_tokens, 0) as total_tokens,
    latency_ms,
    outcome,
    decision as decision_json,
    error,
    created_at
from {{ source('journal', 'llm_calls') }}
