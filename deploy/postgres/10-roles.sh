#!/bin/sh
# The postgres image runs this once, on an empty data directory (/docker-entrypoint-initdb.d):
# Temporal's and the API's roles and databases (deploy/postgres/roles.sql, mounted beside it).
set -eu
psql --username "$POSTGRES_USER" --dbname postgres \
    -v temporal_role=temporal -v temporal_password="$TEMPORAL_DB_PASSWORD" \
    -v api_role=pipeline_api -v api_password="$API_DB_PASSWORD" \
    -v temporal_db=temporal -v visibility_db=temporal_visibility -v api_db=pipeline_engine \
    -f /etc/pipeline-engine/roles.sql
