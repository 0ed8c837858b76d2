-- Lists filtered by a note (`note=key:value`, issue 25): notes containment, only over the
-- payments that have notes.
CREATE INDEX payment_notes_idx ON payment USING gin (notes jsonb_path_ops)
    WHERE notes <> '{}'::jsonb;
