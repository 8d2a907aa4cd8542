//! The session file's schema, in one place. `docs/session-format.md` documents it for people
//! who query sessions with `sqlite3` or pandas; keep the two in step.
//!
//! Every table is an ordinary rowid table (no `WITHOUT ROWID`): the salvage reader walks
//! table b-trees only.

/// `meta.format` of every session file.
pub const FORMAT: &str = "memwatch-session";
/// `meta.format_version`; bump on incompatible changes. Version 2 (process trees): the
/// per-process tables gained a last column `proc` and the `processes` table names every
/// process. `samples`, `fds` and `rollups` stay keyed by `t_us` (the rowid: nothing more per
/// row); two processes sampled in the same microsecond are told apart by moving the later
/// row on by a microsecond or two. Version 1 files are still read. `container_lengths`
/// (lengths read between censuses) came later within version 2: files without it are read as
/// having none.
pub const FORMAT_VERSION: i64 = 2;

/// Index of the `proc` column in each per-process table (the last column), as the reader sees
/// the row (declared column order).
pub const PROC_COL_SAMPLES: usize = 5;
pub const PROC_COL_THREAD_STATES: usize = 4;
pub const PROC_COL_PROBES: usize = 5;
pub const PROC_COL_FDS: usize = 2;
pub const PROC_COL_ROLLUPS: usize = 5;
pub const PROC_COL_DROPPED: usize = 2;
pub const PROC_COL_NOTES: usize = 2;
pub const PROC_COL_CENSUSES: usize = 19;
pub const PROC_COL_FD_TARGETS: usize = 4;
pub const PROC_COL_CONTAINER_LENGTHS: usize = 3;

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
    is_main          INTEGER NOT NULL,
    proc             INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE processes (
    proc          INTEGER PRIMARY KEY,
    pid           INTEGER NOT NULL,
    ppid          INTEGER NOT NULL,
    command_line  TEXT NOT NULL,
    seen_t_us     INTEGER NOT NULL,
    python        TEXT,
    not_sampled   TEXT,
    info_json     TEXT,
    end_t_us      INTEGER,
    end_reason    TEXT,
    exit_code     INTEGER,
    exit_signal   INTEGER,
    root          INTEGER NOT NULL DEFAULT 0
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
    flags   INTEGER NOT NULL,
    proc    INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE probes (
    t_us    INTEGER NOT NULL,
    rss_kib INTEGER NOT NULL,
    thread  INTEGER NOT NULL,
    stack   INTEGER NOT NULL,
    flags   INTEGER NOT NULL,
    proc    INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE thread_states (
    t_us   INTEGER NOT NULL,
    thread INTEGER NOT NULL,
    stack  INTEGER,
    flags  INTEGER NOT NULL,
    proc   INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE fds (
    t_us  INTEGER PRIMARY KEY,
    count INTEGER NOT NULL,
    proc  INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE rollups (
    t_us     INTEGER PRIMARY KEY,
    rss_kib  INTEGER NOT NULL,
    pss_kib  INTEGER NOT NULL,
    uss_kib  INTEGER NOT NULL,
    swap_kib INTEGER NOT NULL,
    proc     INTEGER NOT NULL DEFAULT 0,
    heap_kib  INTEGER NOT NULL DEFAULT 0,
    anon_kib  INTEGER NOT NULL DEFAULT 0,
    file_kib  INTEGER NOT NULL DEFAULT 0,
    stack_kib INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE dropped (
    t_us  INTEGER NOT NULL,
    count INTEGER NOT NULL,
    proc  INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE notes (
    t_us INTEGER NOT NULL,
    text TEXT NOT NULL,
    proc INTEGER NOT NULL DEFAULT 0
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
    why_json      TEXT NOT NULL,
    proc          INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE fd_targets (
    t_us    INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    pattern TEXT NOT NULL,
    count   INTEGER NOT NULL,
    proc    INTEGER NOT NULL DEFAULT 0
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
    item_type     TEXT,
    views_keep_bytes INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE container_lengths (
    t_us      INTEGER NOT NULL,
    container INTEGER NOT NULL,
    len       INTEGER NOT NULL,
    proc      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX census_types_census ON census_types(census);
CREATE INDEX census_containers_census ON census_containers(census);
CREATE INDEX thread_states_t ON thread_states(t_us);
CREATE INDEX probes_t ON probes(t_us);
CREATE INDEX container_lengths_t ON container_lengths(t_us);
CREATE INDEX fd_targets_t ON fd_targets(t_us);
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
    proc               INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (proc, file, function)
);
CREATE VIEW line_report AS
    SELECT f.file, f.line, f.function,
           s.own_increment_kib, s.own_occurrences, s.incl_increment_kib,
           s.incl_occurrences, s.incl_last_rss_kib, s.own_fd_increment
    FROM line_stats s JOIN frames f ON f.id = s.frame;
CREATE VIEW sample_lines AS
    SELECT s.t_us, s.rss_kib, f.file, f.line, f.function, s.flags, s.proc
    FROM samples s
    LEFT JOIN stack_frames sf ON sf.stack = s.stack AND sf.depth = 0
    LEFT JOIN frames f ON f.id = sf.frame;
";
