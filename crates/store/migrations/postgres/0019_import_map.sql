-- What an import (`enclave import slack|mattermost`; SQLite schema version 20) made of each
-- thing of its source: (source, kind, external id) → the local user, channel or message. A
-- second run skips what is mapped; a run stopped half-way finishes on the next.
CREATE TABLE import_map (
    source      text COLLATE "C" NOT NULL,
    kind        text COLLATE "C" NOT NULL,
    external_id text COLLATE "C" NOT NULL,
    local_id    bigint NOT NULL,
    PRIMARY KEY (source, kind, external_id)
);
