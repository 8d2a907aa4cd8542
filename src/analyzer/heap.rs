//! The censuses of a session: the first and the latest in full, and for every type and named
//! container a bounded time series of its count, bytes and length, from which trends and
//! findings are computed.
//!
//! Bounds: at most [`MAX_TRACKED`] types and containers get a series (the largest ones at the
//! census where they first appear), each of fixed size.

use std::collections::HashMap;

use super::series::Series;
use crate::event::Micros;
use crate::heap::census::{Census, CycleReport, GcState};

pub const MAX_TRACKED: usize = 4096;
const SERIES_POINTS: usize = 512;

/// A type's or container's history.
#[derive(Debug, Clone)]
pub struct History {
    pub count: Series,
    pub bytes: Series,
}

impl History {
    fn new() -> History {
        History {
            count: Series::with_capacity(SERIES_POINTS),
            bytes: Series::with_capacity(SERIES_POINTS),
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct HeapHistory {
    pub censuses: u64,
    pub first: Option<Census>,
    pub last: Option<Census>,
    /// By type name: objects (all generations) and bytes.
    pub types: HashMap<String, History>,
    /// By container name: length (`count`) and shallow + items bytes.
    pub containers: HashMap<String, History>,
    /// Pause of every census, µs (for the report's statistics).
    pub pauses: Series,
    pub total_objects: Series,
    pub total_bytes: Series,
    /// Cyclic garbage found at each census that analysed it (bounded).
    pub censuses_garbage: Vec<(Micros, u64)>,
    /// The latest census that analysed cycles (not every census does), with its gc state.
    pub last_cycles: Option<(Micros, CycleReport, GcState)>,
    /// The latest why-alive chain found for each type (bounded by [`MAX_TRACKED`]).
    pub why_alive: HashMap<String, String>,
}

impl HeapHistory {
    pub fn apply(&mut self, c: &Census) {
        self.censuses += 1;
        let t: Micros = c.t;
        self.pauses.push(t, c.pause_us as f64);
        self.total_objects
            .push(t, (c.gc_objects + c.other_objects) as f64);
        self.total_bytes
            .push(t, (c.gc_bytes + c.other_bytes) as f64);
        // types and containers absent from this census count as zero if they had a history
        let mut present: std::collections::HashSet<&str> = Default::default();
        for row in &c.types {
            present.insert(&row.name);
            if !self.types.contains_key(&row.name) && self.types.len() >= MAX_TRACKED {
                continue;
            }
            let h = self
                .types
                .entry(row.name.clone())
                .or_insert_with(History::new);
            h.count.push(t, row.count() as f64);
            h.bytes.push(t, row.bytes() as f64);
        }
        for (name, h) in self.types.iter_mut() {
            if !present.contains(name.as_str()) {
                h.count.push(t, 0.0);
                h.bytes.push(t, 0.0);
            }
        }
        let mut present: std::collections::HashSet<&str> = Default::default();
        for row in &c.containers {
            present.insert(&row.name);
            if !self.containers.contains_key(&row.name) && self.containers.len() >= MAX_TRACKED {
                continue;
            }
            let h = self
                .containers
                .entry(row.name.clone())
                .or_insert_with(History::new);
            h.count.push(t, row.len as f64);
            h.bytes
                .push(t, (row.shallow_bytes + row.items_bytes) as f64);
        }
        for (name, h) in self.containers.iter_mut() {
            if !present.contains(name.as_str()) {
                h.count.push(t, 0.0);
                h.bytes.push(t, 0.0);
            }
        }
        for w in &c.why_alive {
            if self.why_alive.len() < MAX_TRACKED || self.why_alive.contains_key(&w.type_name) {
                self.why_alive.insert(w.type_name.clone(), w.chain.clone());
            }
        }
        if let Some(cy) = &c.cycles {
            if self.censuses_garbage.len() >= 512 {
                // keep every other point: the same span at half the resolution
                let kept: Vec<_> = self.censuses_garbage.iter().copied().step_by(2).collect();
                self.censuses_garbage = kept;
            }
            self.censuses_garbage.push((t, cy.objects));
            // a look that found no garbage (the gc had just run) keeps the patterns of the
            // last look that did: garbage collected as it comes is still churn to tell of
            let keep_patterns = cy.patterns.is_empty()
                && self
                    .last_cycles
                    .as_ref()
                    .is_some_and(|(_, was, _)| !was.patterns.is_empty());
            if keep_patterns {
                if let Some((_, _, gc)) = self.last_cycles.as_mut() {
                    *gc = c.gc.clone();
                }
            } else {
                self.last_cycles = Some((t, cy.clone(), c.gc.clone()));
            }
        }
        if self.first.is_none() {
            self.first = Some(c.clone());
        }
        self.last = Some(c.clone());
    }

    /// Lengths read between censuses: points of the containers' length series (their bytes
    /// are known at censuses only). Containers without a history are not started here.
    pub fn apply_lengths(&mut self, t: Micros, rows: &[(String, u64)]) {
        for (name, len) in rows {
            if let Some(h) = self.containers.get_mut(name)
                && h.count.last.is_none_or(|(last, _)| last < t)
            {
                h.count.push(t, *len as f64);
            }
        }
    }
}
