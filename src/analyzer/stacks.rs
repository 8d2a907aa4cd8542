//! Per-stack totals: the RSS change charged to each whole interned stack, and the samples seen
//! on it, for the formats that draw stacks rather than lines (`--format flamegraph`,
//! `--format speedscope`).
//!
//! It owns no attribution rule: it adds up what the line table decided at each sample
//! ([`Attribution`]), so a stack's total is exactly what its innermost line's `own` counter
//! got from that stack, and a live watch, `report` and `replay` agree.
//!
//! It must never do more than O(1) work per sample (one hash lookup each for the stack seen
//! and the stack charged: this runs on the fast clock), and never keep an entry for a stack
//! the analyzer does not know: the line table only reports stacks with a known frame, so the
//! entries are bounded by the interned stacks ([`crate::sampler::stacks::MAX_STACKS`] per
//! process, which the session reader also holds to by keeping only ids of the process's
//! share of the id space), about 40 bytes each.

use std::collections::HashMap;

use super::lines::Attribution;
use crate::event::StackId;

/// What was charged to one stack.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StackTotal {
    /// Sum of the RSS changes charged to the stack, KiB (negative when it freed more than it
    /// grew).
    pub increment_kib: i64,
    /// Samples whose attributed thread was on this stack.
    pub samples: u64,
}

#[derive(Debug, Clone, Default)]
pub struct StackTotals {
    by_stack: HashMap<StackId, StackTotal>,
}

impl StackTotals {
    /// Add what one sample counted and charged.
    pub fn apply(&mut self, a: &Attribution) {
        if let Some(st) = a.seen {
            self.by_stack.entry(st).or_default().samples += 1;
        }
        for (st, kib) in a.earlier.into_iter().chain(a.charged) {
            let t = self.by_stack.entry(st).or_default();
            t.increment_kib = t.increment_kib.saturating_add(kib);
        }
    }

    pub fn get(&self, stack: StackId) -> Option<&StackTotal> {
        self.by_stack.get(&stack)
    }

    /// Every stack that took a sample or a charge, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (StackId, &StackTotal)> {
        self.by_stack.iter().map(|(id, t)| (*id, t))
    }

    pub fn len(&self) -> usize {
        self.by_stack.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_stack.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzer::lines::LineTable;
    use crate::event::{FrameDef, FrameId, Sample, ThreadSample};

    fn sample(t: u64, rss: u64, stack: StackId, active: bool) -> Sample {
        Sample {
            t,
            rss_kib: rss,
            threads: vec![ThreadSample {
                thread: 0,
                stack,
                gil: active,
                active,
            }],
        }
    }

    /// The stack totals are the line table's own charges, stack by stack: the innermost line
    /// of each stack got exactly what its stacks got.
    #[test]
    fn totals_follow_the_line_tables_attribution() {
        let mut frames = HashMap::new();
        let f = |function: &str, line| FrameDef {
            function: function.into(),
            file: "app.py".into(),
            line,
        };
        frames.insert(0, f("<module>", 10));
        frames.insert(1, f("load", 30));
        frames.insert(2, f("main", 21));
        let mut stacks: HashMap<StackId, Vec<FrameId>> = HashMap::new();
        stacks.insert(0, vec![1, 0]); // in load
        stacks.insert(1, vec![2, 0]); // sleeping in main
        stacks.insert(7, vec![99]); // no known frame
        let mut lt = LineTable::default();
        let mut st = StackTotals::default();
        let feed = [
            sample(0, 1000, 1, false),
            sample(1, 1500, 0, true),           // +500 to load
            sample(2, 1800, 1, false),          // +300 to load (it ran at the start)
            sample(3, 1700, 1, false),          // -100 carried to load (last running)
            sample(20_000_000, 1750, 1, false), // +50 to the idle stack
            sample(20_000_001, 1900, 7, true),  // +150: unknown frames, unattributed
            sample(20_000_002, 1900, 42, true), // unknown stack
        ];
        for s in &feed {
            st.apply(&lt.apply_sample(s, &stacks, &frames));
        }
        assert_eq!(
            st.get(0),
            Some(&StackTotal {
                increment_kib: 700,
                samples: 1
            })
        );
        assert_eq!(
            st.get(1),
            Some(&StackTotal {
                increment_kib: 50,
                samples: 4
            })
        );
        // stacks the analyzer cannot resolve take nothing and get no entry
        assert_eq!(st.len(), 2);
        assert!(st.get(7).is_none() && st.get(42).is_none());
        assert_eq!(lt.unattributed_kib, 150);
        // the same figures as the innermost lines' own counters
        assert_eq!(lt.lines[&1].own.increment_kib, 700);
        assert_eq!(lt.lines[&2].own.increment_kib, 50);
        assert_eq!(lt.lines[&2].own.occurrences, 4);
    }

    #[test]
    fn a_sample_without_stacks_adds_nothing() {
        let mut st = StackTotals::default();
        st.apply(&Attribution::default());
        assert!(st.is_empty());
    }
}
