{#- Generic tests written in the project (dbt_utils cannot be installed offline). -#}

{#- Every value of the column is >= 0 (or > 0 with strict=true). -#}
{% test non_negative(model, column_name, strict=false) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} {{ '<=' if strict else '<' }} 0
{% endtest %}

{#- The combination of columns identifies one row. -#}
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as n_rows
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
