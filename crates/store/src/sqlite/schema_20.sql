-- Version 20: what an import (`enclave import slack|mattermost`) made of each thing of its
-- source: (source, kind, external id) → the local user, channel or message. A second run skips
-- what is mapped, and a run stopped half-way finishes on the next (each batch writes its rows
-- and their mapping in one transaction). (Version 19 belongs to another feature.)
CREATE TABLE import_map (
    source      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    external_id TEXT NOT NULL,
    local_id    INTEGER NOT NULL,
    PRIMARY KEY (source, kind, external_id)
) WITHOUT ROWID;
