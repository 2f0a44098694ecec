SELECT source, fingerprint FROM source_state;
