-- FIFO matching is complete: the round trips closed by each sell add up to that sell's quantity.
select f.fill_id, f.qty, coalesce(sum(rt.qty), 0) as matched
from {{ ref('stg_fills') }} as f
left join {{ ref('round_trips') }} as rt on rt.exit_fill_id = f.fill_id
where f.side = 'sell'
group by f.fill_id, f.qty
having abs(coalesce(sum(rt.qty), 0) - f.qty) > {{ var('qty_epsilon') }}
