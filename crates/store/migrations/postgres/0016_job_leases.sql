-- Leases on scheduled jobs (`LeaseStore`; SQLite schema version 17): the job's name, the node
-- that holds it and when the lease runs out. A node takes a lease with one conditional upsert,
-- so two nodes never hold the same job at once.
CREATE TABLE job_leases (
    name   text COLLATE "C" PRIMARY KEY,
    holder text NOT NULL,
    until  bigint NOT NULL
);
