-- The call's recording: a path relative to the tenant's data directory
-- (recordings/YYYY/MM/DD/HHMMSS-<call-id>.wav), or NULL when the call was not recorded.
-- Keep in step with the other database's migration of the same name.
ALTER TABLE cdr ADD COLUMN recording TEXT;
