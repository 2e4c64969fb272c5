#!/bin/sh
# The official postgres image allows remote logins but not remote replication; the replica needs both.
echo "host replication all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
