-- Run once by the postgres image on an empty volume: the journal gets its own database next to Dagster's.
CREATE DATABASE trading;
