-- The two PostgreSQL roles of one service (docs/deploying.md, "PostgreSQL roles"), for psql:
--
--   psql "$ADMIN_URL" -v database=coaching_users -v owner=coaching_users_owner \
--     -v app=coaching_users_app -v owner_password=... -v app_password=... \
--     -f deploy/k8s/postgres-roles.sql
--
-- `owner` runs `migrate` (the init container): it owns the database and every table, so it
-- may change the schema. `app` runs the service: it reads and writes rows and nothing else,
-- no DDL, no CREATEDB. Run as a role with CREATEROLE and CREATEDB; once per service, each
-- with passwords of its own: users, slots, bookings, stats and the gateway
-- (`-v database=coaching_gateway -v owner=coaching_gateway_owner -v app=coaching_gateway_app`).
-- tests/deploy/test_postgres_roles.py runs this file against a real server, migrates each
-- service as the owner and checks what each role may do.

CREATE ROLE :"owner" LOGIN PASSWORD :'owner_password' NOCREATEDB NOCREATEROLE;
CREATE ROLE :"app" LOGIN PASSWORD :'app_password' NOCREATEDB NOCREATEROLE;
-- Created here, so `migrate` finds it and needs no CREATEDB of its own.
CREATE DATABASE :"database" OWNER :"owner";
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"database" TO :"app";

\connect :"database"
-- Before PostgreSQL 15 every role may create objects in `public`; since 15 only the database
-- owner may, and this changes nothing.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app";

-- As the owner: what its migrations create later is the app's to use (rows only), and so is
-- what they created before (for a database that existed already).
SET ROLE :"owner";
ALTER DEFAULT PRIVILEGES IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO :"app";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app";
RESET ROLE;
