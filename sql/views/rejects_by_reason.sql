-- Rejected inputs per reason code, over all runs.
CREATE OR REPLACE VIEW rejects_by_reason AS
WITH source AS (
    SELECT reason FROM rejects
),

final AS (
    SELECT reason, count(*) AS inputs
    FROM source
    GROUP BY reason
)

SELECT * FROM final ORDER BY inputs DESC, reason;
