-- Scanned file versions and the lines the scan rules matched (waymark scan).
CREATE TABLE IF NOT EXISTS scanned_files (
    logscan_id       INTEGER PRIMARY KEY,          -- one per file version
    file_path        TEXT NOT NULL,
    system_type      TEXT NOT NULL,                -- INFA_SESSION, DBT, ..., UNKNOWN
    evidence         TEXT,                         -- the signature that classified it
    dev              INTEGER,
    inode            INTEGER,
    size             INTEGER NOT NULL DEFAULT 0,   -- size at the last scan
    mtime            TEXT,                         -- RFC 3339 UTC
    position         INTEGER NOT NULL DEFAULT 0,   -- bytes scanned: end of the last complete line
    line_number      INTEGER NOT NULL DEFAULT 0,   -- complete lines scanned
    identity         TEXT,                         -- fingerprint of the bytes before position
    state            TEXT NOT NULL DEFAULT 'active', -- active | superseded
    first_scanned_at TEXT NOT NULL,
    scanned_at       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS scanned_files_path ON scanned_files (file_path);

CREATE TABLE IF NOT EXISTS logscan_results (
    id              INTEGER PRIMARY KEY,
    logscan_id      INTEGER NOT NULL,
    file_path       TEXT NOT NULL,
    system_type     TEXT NOT NULL,
    line_number     INTEGER NOT NULL,
    byte_offset     INTEGER NOT NULL,
    rule            TEXT NOT NULL,
    severity        TEXT NOT NULL,                 -- ERROR | WARNING | INFO
    line            TEXT NOT NULL,                 -- bounded length
    line_timestamp  TEXT,                          -- the line's own time, RFC 3339 UTC
    scanned_at      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logscan_results_id ON logscan_results (logscan_id, line_number);
