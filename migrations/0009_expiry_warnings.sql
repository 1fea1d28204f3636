-- The last expiry warning sent to the webhook (3 or 1 days before); a change of expiry clears it.
ALTER TABLE namespace_requests ADD COLUMN expiry_warned_days integer;
