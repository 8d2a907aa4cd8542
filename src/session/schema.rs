//! The session file's schema, in one place. `docs/session-format.md` documents it for people
//! who query sessions with `sqlite3` or pandas; keep the two in step.
//!
//! Every table is an ordinary rowid table (no `WITHOUT ROWID`): the salvage reader walks
//! table b-trees only.

/// `meta.format` of every session file.
pub const FORMAT: &str = "memwatch-session";
/// `meta.format_version`; bump on incompatible changes.
pub const FORMAT_VERSION: i64 = 1;

/// Flags of a thread at a sample (`samples.flags`, `thread_states.flags`).
pub const FLAG_GIL: i64 = 1;
pub const FLAG_ACTIVE: i64 = 2;

pub const CREATE: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE frames (
    id       INTEGER PRIMARY KEY,
    function TEXT NOT NULL,
    file     TEXT NOT NULL,
    line     INTEGER NOT NULL
);
CREATE TABLE stack_frames (
    stack INTEGER NOT NULL,
    depth INTEGER NOT NULL,
    frame INTEGER NOT NULL
);
CREATE INDEX stack_frames_stack ON stack_frames(stack, depth);
CREATE TABLE threads (
    id               INTEGER PRIMARY KEY,
    python_thread_id INTEGER NOT NULL,
    os_thread_id     INTEGER,
    name             TEXT,
    is_main          INTEGER NOT NULL
);
CREATE TABLE sources (
    file TEXT PRIMARY KEY,
    text TEXT
);
CREATE TABLE samples (
    t_us    INTEGER PRIMARY KEY,
    rss_kib INTEGER NOT NULL,
    thread  INTEGER,
    stack   INTEGER,
    flags   INTEGER NOT NULL
);
CREATE TABLE thread_states (
    t_us   INTEGER NOT NULL,
    thread INTEGER NOT NULL,
    stack  INTEGER,
    flags  INTEGER NOT NULL
);
CREATE TABLE fds (
    t_us  INTEGER PRIMARY KEY,
    count INTEGER NOT NULL
);
CREATE TABLE rollups (
    t_us     INTEGER PRIMARY KEY,
    rss_kib  INTEGER NOT NULL,
    pss_kib  INTEGER NOT NULL,
    uss_kib  INTEGER NOT NULL,
    swap_kib INTEGER NOT NULL
);
CREATE TABLE dropped (
    t_us  INTEGER NOT NULL,
    count INTEGER NOT NULL
);
CREATE TABLE notes (
    t_us INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE TABLE censuses (
    id            INTEGER PRIMARY KEY,
    t_us          INTEGER NOT NULL,
    pause_us      INTEGER NOT NULL,
    walk_us       INTEGER NOT NULL,
    total_us      INTEGER NOT NULL,
    copy_bytes    INTEGER NOT NULL,
    attempts      INTEGER NOT NULL,
    approximate   INTEGER NOT NULL,
    gc_enabled    INTEGER NOT NULL,
    gc_collecting INTEGER NOT NULL,
    gc_objects    INTEGER NOT NULL,
    gc_bytes      INTEGER NOT NULL,
    other_objects INTEGER NOT NULL,
    other_bytes   INTEGER NOT NULL,
    gc_json       TEXT NOT NULL,
    notes_json    TEXT NOT NULL,
    largest_json  TEXT NOT NULL,
    cycles_json   TEXT,
    why_json      TEXT NOT NULL
);
CREATE TABLE fd_targets (
    t_us    INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    pattern TEXT NOT NULL,
    count   INTEGER NOT NULL
);
CREATE TABLE type_names (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE census_types (
    census       INTEGER NOT NULL,
    type         INTEGER NOT NULL,
    gc_count     INTEGER NOT NULL,
    gc_bytes     INTEGER NOT NULL,
    frozen_count INTEGER NOT NULL,
    frozen_bytes INTEGER NOT NULL,
    other_count  INTEGER NOT NULL,
    other_bytes  INTEGER NOT NULL,
    size_exact   INTEGER NOT NULL
);
CREATE TABLE container_names (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE census_containers (
    census        INTEGER NOT NULL,
    container     INTEGER NOT NULL,
    type_name     TEXT NOT NULL,
    len           INTEGER NOT NULL,
    shallow_bytes INTEGER NOT NULL,
    items_bytes   INTEGER NOT NULL,
    bound         INTEGER,
    file          TEXT,
    aliases_json  TEXT NOT NULL,
    addr          INTEGER NOT NULL,
    origin        TEXT NOT NULL,
    item_type     TEXT
);
CREATE TABLE modules (
    name TEXT PRIMARY KEY,
    file TEXT NOT NULL
);
CREATE TABLE line_stats (
    frame                 INTEGER PRIMARY KEY,
    own_increment_kib     INTEGER NOT NULL,
    own_occurrences       INTEGER NOT NULL,
    own_last_rss_kib      INTEGER NOT NULL,
    own_fd_increment      INTEGER NOT NULL,
    incl_increment_kib    INTEGER NOT NULL,
    incl_occurrences      INTEGER NOT NULL,
    incl_last_rss_kib     INTEGER NOT NULL,
    incl_fd_increment     INTEGER NOT NULL
);
CREATE TABLE function_stats (
    file               TEXT NOT NULL,
    function           TEXT NOT NULL,
    first_line         INTEGER,
    last_line          INTEGER,
    own_increment_kib  INTEGER NOT NULL,
    own_occurrences    INTEGER NOT NULL,
    incl_increment_kib INTEGER NOT NULL,
    incl_occurrences   INTEGER NOT NULL,
    incl_fd_increment  INTEGER NOT NULL,
    PRIMARY KEY (file, function)
);
CREATE VIEW line_report AS
    SELECT f.file, f.line, f.function,
           s.own_increment_kib, s.own_occurrences, s.incl_increment_kib,
           s.incl_occurrences, s.incl_last_rss_kib, s.own_fd_increment
    FROM line_stats s JOIN frames f ON f.id = s.frame;
CREATE VIEW sample_lines AS
    SELECT s.t_us, s.rss_kib, f.file, f.line, f.function, s.flags
    FROM samples s
    LEFT JOIN stack_frames sf ON sf.stack = s.stack AND sf.depth = 0
    LEFT JOIN frames f ON f.id = sf.frame;
";
