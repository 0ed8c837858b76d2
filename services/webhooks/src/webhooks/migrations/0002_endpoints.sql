-- Several endpoints per merchant. The one endpoint each merchant had becomes its default
-- endpoint (what /api/v1/webhooks/config reads and writes), keeping its URL and secret; every
-- delivery names the endpoint it goes to, and existing ones go to their merchant's default.

-- `ep_` + 16 alphanumerics from Postgres' strong random source (gen_random_uuid), as kit.ids.
CREATE FUNCTION new_endpoint_id() RETURNS text LANGUAGE sql VOLATILE AS $$
    SELECT 'ep_' || string_agg(
        substr(alphabet, 1 + get_byte(uuid_send(gen_random_uuid()), 0) % 62, 1), '')
    FROM generate_series(1, 16),
         (SELECT 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'::text) AS a (alphabet)
$$;

ALTER TABLE endpoint DROP CONSTRAINT endpoint_pkey;
ALTER TABLE endpoint
    ADD COLUMN id          text         NOT NULL DEFAULT new_endpoint_id(),
    ADD COLUMN is_default  boolean      NOT NULL DEFAULT false,
    ADD COLUMN description varchar(200) NOT NULL DEFAULT '',
    ADD COLUMN event_types text[]       NOT NULL DEFAULT '{}',   -- empty: every event
    ADD COLUMN enabled     boolean      NOT NULL DEFAULT true;
ALTER TABLE endpoint ADD PRIMARY KEY (id);
UPDATE endpoint SET is_default = true;
-- Only the default endpoint may lack a URL (the contract's "no URL: nothing is delivered").
ALTER TABLE endpoint ADD CONSTRAINT endpoint_url_check CHECK (is_default OR url IS NOT NULL);
CREATE UNIQUE INDEX endpoint_default_idx ON endpoint (merchant_id) WHERE is_default;
CREATE INDEX endpoint_merchant_idx ON endpoint (merchant_id, created_at);

-- A deleted endpoint's deliveries stay in the logs, without it.
ALTER TABLE delivery ADD COLUMN endpoint_id text REFERENCES endpoint (id) ON DELETE SET NULL;
UPDATE delivery d SET endpoint_id = p.id
FROM endpoint p WHERE p.merchant_id = d.merchant_id AND p.is_default;
-- One delivery per event per endpoint (there was one per event: the merchant's one endpoint).
CREATE UNIQUE INDEX delivery_event_endpoint_idx ON delivery (event_id, endpoint_id);
CREATE INDEX delivery_endpoint_created_idx ON delivery (endpoint_id, created_at);
