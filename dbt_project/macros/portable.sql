{#- Dialect-portable helpers (DuckDB and PostgreSQL); no dbt package is used, so they live here. -#}

{% macro days_between(start_date, end_date) -%}
    {{ return(adapter.dispatch('days_between')(start_date, end_date)) }}
{%- endmacro %}

{% macro default__days_between(start_date, end_date) -%}
    ({{ end_date }} - {{ start_date }})
{%- endmacro %}

{% macro duckdb__days_between(start_date, end_date) -%}
    date_diff('day', {{ start_date }}, {{ end_date }})
{%- endmacro %}

{#- a / b, or null when b is zero or null (never a division error, never an infinite ratio). -#}
{% macro safe_divide(numerator, denominator) -%}
    ({{ numerator }}) / nullif({{ denominator }}, 0)
{%- endmacro %}

{#- The session column as a date, whatever the source typed it (DATE on PostgreSQL, TIMESTAMP via pandas). -#}
{% macro as_date(column) -%}
    cast({{ column }} as date)
{%- endmacro %}

{#- Only the books' committed rows: a run's rows are staged under '<book>#<run_id>' until it commits (the rows of a
    run that never did stay there for inspection), and are no book's results. -#}
{% macro committed_rows() -%}
    where book not like '%#%'
{%- endmacro %}
