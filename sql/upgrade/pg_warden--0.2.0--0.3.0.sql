-- pg_warden 0.2.0 -> 0.3.0
-- Brings a 0.2.0 installation to exactly what CREATE EXTENSION pg_warden creates in 0.3.0;
-- tests/multi/t_upgrade.sh compares the two catalog by catalog.
\echo Use "ALTER EXTENSION pg_warden UPDATE" to load this file. \quit
