-- Hippo's transformer: DuckDB SQL over a relation named `records`.
-- {min_total} is bound as a parameter (never formatted into the text), so a value cannot change the query.
select order_id, customer, country, total, placed_at
from records
where total >= {min_total}
order by order_id
