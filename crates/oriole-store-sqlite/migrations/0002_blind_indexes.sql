-- Lookup and uniqueness of phone and email without storing either in the
-- clear: each column holds the vault's blind index (a keyed HMAC, hex) of the
-- normalised value, computed by the store on create_user. NULL when the user
-- gave none; several users may have none, hence the partial indexes.
--
-- Rows from before this migration keep NULL: the store cannot compute an
-- index in SQL. (No deployment predates it.)

ALTER TABLE users ADD COLUMN phone_bidx TEXT;
ALTER TABLE users ADD COLUMN email_bidx TEXT;

CREATE UNIQUE INDEX users_by_phone_bidx ON users (phone_bidx)
    WHERE phone_bidx IS NOT NULL;
CREATE UNIQUE INDEX users_by_email_bidx ON users (email_bidx)
    WHERE email_bidx IS NOT NULL;
