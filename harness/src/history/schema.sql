-- The run history: one database per lab (or per team), fed by every run folder, local or
-- imported from another lab host. Schema version 1 (`PRAGMA user_version`, set by
-- `version.rs` with this file, which must keep the tables listed there in step).
-- Applied to a new database only; each statement is idempotent. A change gets a new
-- version and a migration in `version.rs`. Foreign keys are turned on per connection.

-- One run of the matrix on one host.
CREATE TABLE IF NOT EXISTS runs (
    id          INTEGER PRIMARY KEY,
    run_id      TEXT NOT NULL,               -- the run folder's name
    host        TEXT NOT NULL,
    lab_name    TEXT NOT NULL,
    started_at  TEXT NOT NULL,               -- RFC 3339, UTC
    duration_s  REAL NOT NULL,
    status      TEXT NOT NULL,               -- complete | partial
    exit_code   INTEGER NOT NULL,
    approval    TEXT,
    run_dir     TEXT NOT NULL,               -- where the folder was when it was recorded
    recorded_at TEXT NOT NULL,               -- RFC 3339, UTC
    UNIQUE (host, run_id)
);

-- One (scenario, bench) case of a run.
CREATE TABLE IF NOT EXISTS cases (
    id          INTEGER PRIMARY KEY,
    run         INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    scenario    TEXT NOT NULL,
    model       TEXT NOT NULL,
    bench       TEXT NOT NULL,               -- empty when no bench had the model
    outcome     TEXT NOT NULL,               -- pass | fail | lab-fault | skipped | config-error | interrupted
    detail      TEXT NOT NULL,               -- the diff of a failure, the reason otherwise
    duration_s  REAL NOT NULL,
    attempts    INTEGER NOT NULL,
    transcript  TEXT,                        -- redacted, as compared with the snapshot
    UNIQUE (run, scenario, model, bench)
);
CREATE INDEX IF NOT EXISTS cases_by_name ON cases (scenario, model);

-- Firmware versions a case's phone announced.
CREATE TABLE IF NOT EXISTS firmware_seen (
    case_id INTEGER NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    PRIMARY KEY (case_id, version)
);

-- Each bench's health over a run.
CREATE TABLE IF NOT EXISTS bench_health (
    run        INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    bench      TEXT NOT NULL,
    model      TEXT NOT NULL,
    state      TEXT NOT NULL,                -- healthy | recovered | bad
    lab_faults INTEGER NOT NULL,
    retries    INTEGER NOT NULL,
    detail     TEXT NOT NULL,
    PRIMARY KEY (run, bench)
);
