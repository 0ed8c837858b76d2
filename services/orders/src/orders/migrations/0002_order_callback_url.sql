-- Where the hosted checkout sends the customer after a successful payment (optional).
ALTER TABLE merchant_order ADD COLUMN callback_url varchar(2048);
