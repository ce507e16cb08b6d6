-- An admin disables an operator account: login is refused and every live
-- session ends at once (oriole_core::service, `disable_operator`). The row
-- stays, so the audit log's pseudonym keeps pointing at a known account.
ALTER TABLE operators ADD COLUMN disabled_at INTEGER;
