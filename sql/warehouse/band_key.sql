-- A band's key: its band_rows 32-bit rows of the MinHash packed into one exact number, the
-- band's number in the top 6 bits (xor), the same in every DuckDB version.
CREATE OR REPLACE TEMP MACRO band_key(minhash, band, band_rows) AS
    xor(
        list_reduce(
            list_transform(
                list_slice(minhash, band * band_rows + 1, (band + 1) * band_rows),
                lambda x: x::UBIGINT
            ),
            lambda acc, x: (acc << 32) | x
        ),
        band::UBIGINT << 58
    );
