-- The journal's accounting identity, per book and session.
select * from {{ ref('stg_equity') }}
where abs(cash + positions_value - equity) > 0.000001 * greatest(abs(equity), 1)
