-- The provider trunk an outside call went out (or came in) through, NULL for calls inside
-- the tenant. Keep in step with the other database's migration of the same name.
ALTER TABLE cdr ADD COLUMN trunk TEXT;
