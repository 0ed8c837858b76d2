-- Lists filtered by a note (`note=key:value`, issue 25): notes containment, only over the
-- refunds that have notes.
CREATE INDEX refund_notes_idx ON refund USING gin (notes jsonb_path_ops)
    WHERE notes <> '{}'::jsonb;
