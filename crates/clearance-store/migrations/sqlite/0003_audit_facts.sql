-- The facts each decision read, derived from the hashed record like the other query columns
-- (and, like them, never trusted by `verify`). An impact preview reads them for every record in
-- its window: from this column a million records take about a second, from `json_extract` over
-- the whole record about four (measured in crates/clearance-cli/benches/preview.rs).
ALTER TABLE audit ADD COLUMN facts TEXT;
UPDATE audit SET facts = json_extract(record, '$.facts');
