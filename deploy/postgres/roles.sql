-- One PostgreSQL role per component (docs/security.md, "Threat model"), run once on an empty data
-- directory by 10-roles.sh with these psql variables:
--   temporal_role, temporal_password   Temporal's role: owns its two databases, nothing else
--   api_role, api_password             the API's role: owns the API's database, nothing else
--   temporal_db, visibility_db, api_db the databases
-- Neither role is a superuser or may create roles or databases; PUBLIC may not connect to any of
-- the three, so the API's credentials do not reach the histories (inputs, results) and Temporal's
-- do not reach the tenant configs. The superuser (POSTGRES_USER) is for this script only.
\set ON_ERROR_STOP on

CREATE ROLE :"temporal_role" LOGIN PASSWORD :'temporal_password'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
CREATE ROLE :"api_role" LOGIN PASSWORD :'api_password'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;

CREATE DATABASE :"temporal_db" OWNER :"temporal_role";
CREATE DATABASE :"visibility_db" OWNER :"temporal_role";
CREATE DATABASE :"api_db" OWNER :"api_role";

REVOKE ALL ON DATABASE :"temporal_db" FROM PUBLIC;
REVOKE ALL ON DATABASE :"visibility_db" FROM PUBLIC;
REVOKE ALL ON DATABASE :"api_db" FROM PUBLIC;
