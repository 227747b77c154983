-- A channel's own transcoding ladder as JSON text; NULL follows the server's ladder. Text rather
-- than a structured column: the server owns the format (PostgreSQL would store it as jsonb).
ALTER TABLE channels ADD COLUMN ladder TEXT;
