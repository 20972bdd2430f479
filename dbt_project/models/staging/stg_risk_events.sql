-- Every rejection, clip, cancellation, failed check and quarantined bar, with the rule and the limit it hit.
select
    book,
    {{ as_date('session') }} as session,
    symbol,
    rule,
    action,
    value,
    limit_value,
    message,
    source,
    run_id
from {{ source('journal', 'risk_events') }}
{{ committed_rows() }}
