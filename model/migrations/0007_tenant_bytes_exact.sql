-- Tenants and idempotency keys compare byte for byte. utf8mb4_bin is a PAD SPACE collation:
-- 't1 ' equalled 't1', so a token for tenant "t1 " read tenant t1's jobs, and the keys "k"
-- and "k " were one idempotency key. NO PAD compares trailing spaces too. (Tokens now also
-- restrict tenants to ASCII letters, digits, '.', '_' and '-'; existing values are kept as
-- they are.)
ALTER TABLE `jobs`
  MODIFY COLUMN `tenant_id` varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL DEFAULT 'default' COMMENT 'tenant that started the job (compared byte for byte: NO PAD)',
  MODIFY COLUMN `idempotency_key` varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NULL COMMENT 'caller key: one job per (tenant, key)';
