//! Retention: a session that runs for days stays small and quick to read. The recent window
//! (`--retention`, default one hour) keeps every row; older rows are thinned in place, in two
//! tiers, as the watch goes on:
//!
//! | age                     | samples, probes  | rollups, fds, fd groups, lengths | censuses      |
//! |-------------------------|------------------|----------------------------------|---------------|
//! | < window                | all              | all                              | all           |
//! | window … 24 × window    | 1 a second       | 1 a minute (fds: 1 a second)     | 1 a minute    |
//! | ≥ 24 × window           | 1 a minute       | 1 every 10 minutes               | 1 per 10 min  |
//!
//! What is kept of a bucket: the sample with the highest RSS (a peak survives; the changes
//! between the samples kept still add up to the whole change, so line increments stay whole,
//! charged to the stacks kept), the latest reading of the others, the latest census (whose
//! figures are the census's own, as a census's table rows hold only changes: a removed
//! census's rows are carried to the next one). The first census of every process, notes,
//! drops, frames, stacks, sources and the process rows are never thinned: findings are made
//! again from what is kept, with their evidence.
//!
//! Thinning runs in the writer's thread, a bounded amount at a time (each step covers only
//! rows that aged since the last), inside the writer's transaction. It must never touch rows
//! younger than the window.

use rusqlite::{Connection, params};

/// The default window of full resolution.
pub const DEFAULT_WINDOW_S: f64 = 3600.0;
/// How far the second tier reaches, in windows.
const SECOND_TIER: u64 = 24;
/// How often a compaction step runs at most, in fractions of the window (and at least every
/// minute).
const STEPS_PER_WINDOW: u64 = 12;

const SEC: u64 = 1_000_000;
const MIN: u64 = 60 * SEC;

/// The thinning state of one session file.
#[derive(Debug, Clone)]
pub struct Retention {
    window_us: u64,
    /// Per tier and table: rows before this time are thinned (a whole number of buckets).
    done: [[u64; TABLES]; 2],
    /// Session time of the last step.
    last_step: u64,
}

/// What each tier keeps, table by table: (table, bucket of the first tier, of the second).
const TABLES: usize = 8;
const PLAN: [(Option<&Thin>, u64, u64); TABLES] = [
    (Some(&SAMPLES), SEC, MIN),
    (Some(&PROBES), SEC, MIN),
    (Some(&THREAD_STATES), SEC, MIN),
    (Some(&FDS), 0, MIN),
    (Some(&ROLLUPS), MIN, 10 * MIN),
    (Some(&FD_TARGETS), MIN, 10 * MIN),
    (Some(&LENGTHS), MIN, 10 * MIN),
    (None, MIN, 10 * MIN),
];

/// One table's thinning: keep one row per `partition` and bucket, the first by `order`.
struct Thin {
    table: &'static str,
    partition: &'static str,
    order: &'static str,
}

const SAMPLES: Thin = Thin {
    table: "samples",
    partition: "proc",
    order: "rss_kib DESC, t_us DESC",
};
const PROBES: Thin = Thin {
    table: "probes",
    partition: "proc",
    order: "rss_kib DESC, t_us DESC",
};
const THREAD_STATES: Thin = Thin {
    table: "thread_states",
    partition: "proc, thread",
    order: "t_us DESC",
};
const ROLLUPS: Thin = Thin {
    table: "rollups",
    partition: "proc",
    order: "t_us DESC",
};
const FDS: Thin = Thin {
    table: "fds",
    partition: "proc",
    order: "t_us DESC",
};
const FD_TARGETS: Thin = Thin {
    table: "fd_targets",
    partition: "proc, kind, pattern",
    order: "t_us DESC",
};
const LENGTHS: Thin = Thin {
    table: "container_lengths",
    partition: "proc, container",
    order: "t_us DESC",
};

impl Retention {
    pub fn new(window_s: f64) -> Retention {
        Retention {
            window_us: (window_s.max(1.0) * 1e6) as u64,
            done: [[0; TABLES]; 2],
            last_step: 0,
        }
    }

    pub fn window_s(&self) -> f64 {
        self.window_us as f64 / 1e6
    }

    /// Whether a step is due at session time `now` (µs).
    pub fn due(&self, now: u64) -> bool {
        let every = (self.window_us / STEPS_PER_WINDOW).clamp(SEC, MIN);
        now >= self.last_step + every && now > self.window_us
    }

    /// Thin what aged past the window (first tier) and past [`SECOND_TIER`] windows (second)
    /// since the last step, each table up to its last whole bucket. Returns the rows removed.
    pub fn step(&mut self, conn: &Connection, now: u64) -> rusqlite::Result<u64> {
        self.last_step = now;
        let mut removed = 0;
        for tier in 0..2 {
            let age = if tier == 0 {
                self.window_us
            } else {
                self.window_us * SECOND_TIER
            };
            let edge = now.saturating_sub(age);
            for (i, (thin_of, first, second)) in PLAN.iter().enumerate() {
                let bucket = if tier == 0 { *first } else { *second };
                if bucket == 0 {
                    continue;
                }
                let to = edge / bucket * bucket;
                let from = self.done[tier][i];
                if to <= from {
                    continue;
                }
                removed += match thin_of {
                    Some(t) => thin(conn, t, from, to, bucket)?,
                    None => thin_censuses(conn, from, to, bucket)?,
                };
                self.done[tier][i] = to;
            }
        }
        if removed > 0 {
            conn.prepare_cached("INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)")?
                .execute(params![
                    "thinned",
                    format!(
                        "{{\"window_s\":{},\"second_until_us\":{},\"minute_until_us\":{}}}",
                        self.window_s(),
                        self.done[0][0],
                        self.done[1][0]
                    )
                ])?;
        }
        Ok(removed)
    }
}

/// Keep one row of `t` per partition and bucket of `bucket_us` in `[from, to)`.
fn thin(conn: &Connection, t: &Thin, from: u64, to: u64, bucket_us: u64) -> rusqlite::Result<u64> {
    let sql = format!(
        "DELETE FROM {table} WHERE t_us >= ?1 AND t_us < ?2 AND rowid NOT IN (
             SELECT rowid FROM (
                 SELECT rowid, row_number() OVER (
                     PARTITION BY {partition}, t_us / ?3 ORDER BY {order}) AS rn
                 FROM {table} WHERE t_us >= ?1 AND t_us < ?2)
             WHERE rn = 1)",
        table = t.table,
        partition = t.partition,
        order = t.order
    );
    let n =
        conn.prepare_cached(&sql)?
            .execute(params![from as i64, to as i64, bucket_us as i64])?;
    Ok(n as u64)
}

/// Keep the latest census of each process per bucket in `[from, to)` (never a process's
/// first census). A removed census's type and container rows are changes since the census
/// before it: those the next census does not change again are carried to it, so every
/// census kept reads back with the same figures.
fn thin_censuses(conn: &Connection, from: u64, to: u64, bucket_us: u64) -> rusqlite::Result<u64> {
    let doomed: Vec<(i64, i64)> = conn
        .prepare_cached(
            "SELECT id, proc FROM (
                 SELECT id, proc, t_us, row_number() OVER (
                     PARTITION BY proc, t_us / ?3 ORDER BY t_us DESC, id DESC) AS rn
                 FROM censuses WHERE t_us >= ?1 AND t_us < ?2)
             WHERE rn > 1 AND id NOT IN (SELECT min(id) FROM censuses GROUP BY proc)
             ORDER BY t_us, id",
        )?
        .query_map(params![from as i64, to as i64, bucket_us as i64], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for &(id, proc) in &doomed {
        let next: Option<i64> = conn
            .prepare_cached(
                "SELECT id FROM censuses WHERE proc = ?2 AND
                 (t_us, id) > (SELECT t_us, id FROM censuses WHERE id = ?1)
                 ORDER BY t_us, id LIMIT 1",
            )?
            .query_row(params![id, proc], |r| r.get(0))
            .ok();
        // a census is doomed only when a later one of its bucket is kept
        let Some(next) = next else { continue };
        conn.prepare_cached(
            "UPDATE census_types SET census = ?2 WHERE census = ?1
             AND type NOT IN (SELECT type FROM census_types WHERE census = ?2)",
        )?
        .execute(params![id, next])?;
        conn.prepare_cached("DELETE FROM census_types WHERE census = ?1")?
            .execute(params![id])?;
        conn.prepare_cached(
            "UPDATE census_containers SET census = ?2 WHERE census = ?1
             AND container NOT IN (SELECT container FROM census_containers WHERE census = ?2)",
        )?
        .execute(params![id, next])?;
        conn.prepare_cached("DELETE FROM census_containers WHERE census = ?1")?
            .execute(params![id])?;
        conn.prepare_cached("DELETE FROM censuses WHERE id = ?1")?
            .execute(params![id])?;
    }
    Ok(doomed.len() as u64)
}

/// `--retention`: seconds, or a number with a unit (`90s`, `30m`, `1h`, `2d`).
pub fn parse_window(s: &str) -> std::result::Result<f64, String> {
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let scale = match unit {
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => f64::NAN,
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && scale.is_finite() && v * scale >= 10.0 => Ok(v * scale),
        _ => Err(format!(
            "--retention takes a duration of at least 10 s such as 3600, 90s, 30m, 1h or 2d, not {s:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_with_units() {
        assert_eq!(parse_window("3600"), Ok(3600.0));
        assert_eq!(parse_window("90s"), Ok(90.0));
        assert_eq!(parse_window("30m"), Ok(1800.0));
        assert_eq!(parse_window("1h"), Ok(3600.0));
        assert_eq!(parse_window("2d"), Ok(172800.0));
        assert!(parse_window("5").is_err());
        assert!(parse_window("1y").is_err());
        assert!(parse_window("h").is_err());
    }

    fn session() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(crate::session::schema::CREATE).unwrap();
        c
    }

    #[test]
    fn samples_past_the_window_keep_the_peak_of_each_second() {
        let c = session();
        // 100 Hz for 3 minutes; RSS rises by 1 KiB a sample, with a spike at 30.5 s
        for i in 0..18_000u64 {
            let t = i * 10_000;
            let rss = 1000 + i + if i == 3050 { 5000 } else { 0 };
            c.execute(
                "INSERT INTO samples(t_us, rss_kib, flags, proc) VALUES (?1, ?2, 0, 0)",
                params![t as i64, rss as i64],
            )
            .unwrap();
        }
        let mut r = Retention::new(60.0);
        let removed = r.step(&c, 180 * SEC).unwrap();
        let count = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
        // the first two minutes (older than the window, up to a whole minute) at 1 a second
        assert_eq!(
            count("SELECT count(*) FROM samples WHERE t_us < 120000000"),
            120
        );
        assert_eq!(
            count("SELECT count(*) FROM samples WHERE t_us >= 120000000"),
            6000
        );
        assert_eq!(removed, 12_000 - 120);
        // the spike is kept, and the last sample's RSS is the same
        assert_eq!(
            count("SELECT t_us FROM samples WHERE rss_kib = 9050"),
            30_500_000
        );
        assert_eq!(
            count("SELECT rss_kib FROM samples ORDER BY t_us DESC LIMIT 1"),
            18_999
        );
        // a second later, the second that aged; then nothing until more has aged
        assert_eq!(r.step(&c, 181 * SEC).unwrap(), 99);
        assert_eq!(r.step(&c, 181 * SEC).unwrap(), 0);
    }

    #[test]
    fn a_thinned_census_carries_its_changes_to_the_next() {
        let c = session();
        // censuses every 10 s for 3 minutes; type 1 changes only at the census of 15 s
        // (id 2), type 2 at every census
        for k in 0..18i64 {
            c.execute(
                "INSERT INTO censuses(id, t_us, pause_us, walk_us, total_us, copy_bytes, attempts,
                 approximate, gc_enabled, gc_collecting, gc_objects, gc_bytes, other_objects,
                 other_bytes, gc_json, notes_json, largest_json, why_json, proc)
                 VALUES (?1, ?2, 0,0,0,0,1,0,1,0,0,0,0,0,'{}','[]','[]','[]',0)",
                params![k + 1, k * 10_000_000 + 5_000_000],
            )
            .unwrap();
            c.execute(
                "INSERT INTO census_types VALUES (?1, 2, ?2, 0, 0, 0, 0, 0, 1)",
                params![k + 1, 100 + k],
            )
            .unwrap();
        }
        c.execute(
            "INSERT INTO census_types VALUES (2, 1, 7, 0, 0, 0, 0, 0, 1)",
            [],
        )
        .unwrap();
        let mut r = Retention::new(60.0);
        r.step(&c, 180 * SEC).unwrap();
        let ids: Vec<i64> = c
            .prepare("SELECT id FROM censuses ORDER BY t_us")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        // the first census, the last of each of the first two minutes, then all of the window
        assert_eq!(ids, vec![1, 6, 12, 13, 14, 15, 16, 17, 18]);
        // type 1's figure, set at census 2, now reads from census 6 on
        let t1: (i64, i64) = c
            .query_row(
                "SELECT census, gc_count FROM census_types WHERE type = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(t1, (6, 7));
        // type 2 keeps each kept census's own figure
        let t2: i64 = c
            .query_row(
                "SELECT gc_count FROM census_types WHERE type = 2 AND census = 6",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(t2, 105);
        assert_eq!(
            c.query_row(
                "SELECT count(*) FROM census_types WHERE census NOT IN (SELECT id FROM censuses)",
                [],
                |r| r.get::<_, i64>(0)
            )
            .unwrap(),
            0
        );
    }
}
