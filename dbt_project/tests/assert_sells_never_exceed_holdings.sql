-- The book is long-only, which the FIFO matching of round_trips relies on: at no fill does the cumulative
-- quantity sold of a book and symbol exceed the cumulative quantity bought before it.
with signed as (
    select
        book,
        symbol,
        fill_id,
        sum(case when side = 'buy' then qty else -qty end) over (
            partition by book, symbol order by session, journal_seq rows between unbounded preceding and current row
        ) as holding
    from {{ ref('stg_fills') }}
)

select * from signed where holding < -{{ var('qty_epsilon') }}
