-- Kill switches get a change version like keys and principals, so every gateway on this store
-- (not only the one whose admin API took the change) reloads them within its refresh interval.
INSERT OR IGNORE INTO change_versions (kind, version) VALUES ('model_switches', 0);
