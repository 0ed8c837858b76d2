-- Lists filtered by a note (`note=key:value`, issue 25): notes containment, only over the
-- orders that have notes.
CREATE INDEX merchant_order_notes_idx ON merchant_order USING gin (notes jsonb_path_ops)
    WHERE notes <> '{}'::jsonb;
