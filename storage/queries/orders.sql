-- An account's orders (the CRM's `orders`): every statement on `orders` is here, run by
-- storage/orders.py. `price` is a decimal kept as written ('199.90'), so no float ever rounds it.

-- name: insert_order
INSERT INTO orders (contact_id, price, currency, payment_method, status, created_at, updated_at)
VALUES (:contact_id, :price, :currency, :payment_method, :status, :now, :now)
RETURNING id;

-- name: order_by_id
SELECT id, contact_id, price, currency, payment_method, status, created_at, updated_at FROM orders WHERE id = :id;

-- name: set_order_status
UPDATE orders SET status = :status, updated_at = :now WHERE id = :id;

-- name: orders_of_contact
-- Newest first: one range of orders_contact.
SELECT id, contact_id, price, currency, payment_method, status, created_at, updated_at FROM orders
WHERE contact_id = :contact_id
ORDER BY id DESC LIMIT :limit OFFSET :offset;

-- name: count_orders_of_contact
SELECT count(*) FROM orders WHERE contact_id = :contact_id;

-- name: move_orders
UPDATE orders SET contact_id = :to_contact_id, updated_at = :now WHERE contact_id = :from_contact_id;
