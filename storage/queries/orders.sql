-- An account's orders (seed 002), as storage/orders.py writes them.

-- name: move_orders
-- A merge of two accounts that are one person: the other's orders become this one's.
UPDATE orders SET contact_id = :to_id WHERE contact_id = :from_id;
