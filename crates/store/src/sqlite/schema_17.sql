-- Version 17: leases on scheduled jobs, so that one node of a cluster runs such a job at a time
-- (`LeaseStore`). (Versions 15 and 16 belong to other features of the same release.)
CREATE TABLE job_leases (
    name   TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until  INTEGER NOT NULL
);
