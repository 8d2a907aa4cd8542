//! Container lengths between censuses. A census names the containers that hold things
//! (`orders._CACHE`); reading one's length again is two or three words of the target's
//! memory, no pause and no copy. The census clock reads the lengths of the named containers of
//! the latest census every [`PROBE_EVERY`](crate::sampler::census) in between, so a growing
//! holder gets a point per probe instead of one per census, and its trend verdict comes after
//! seconds instead of after six censuses.
//!
//! Reads are racy (the target runs) but each is one aligned word; a container freed since the
//! census fails the type check (or, if its memory now holds another object of the same type,
//! reads as that object until the next census renames it: the next census's length wins).
//! What is read is bounded: at most [`MAX_PROBED`] containers, three words each, every length
//! checked against [`MAX_ITEMS`].

use serde::{Deserialize, Serialize};

use super::census::ContainerRow;
use super::layout::Layout;
use super::memory::{MAX_ADDR, Memory, MemoryExt};
use super::objects::{MAX_ITEMS, OB_SIZE};
use super::types::{Kind, TypeInfo};

/// Containers whose lengths are read between censuses (the longest of the census).
pub const MAX_PROBED: usize = 256;

/// Where a container's length is: `addr + ob_type` must still hold `type_addr`, and the length
/// is the word at `len_at` of the object itself or, with `via`, of the object whose pointer
/// is at `addr + via` (an `lru_cache` wrapper's cache dict).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LenProbe {
    pub addr: u64,
    pub ob_type: u64,
    pub type_addr: u64,
    pub via: Option<u64>,
    pub len_at: u64,
}

impl LenProbe {
    /// The probe for a container of type `t` at `addr` (None: its length is not one word).
    pub fn of(l: &Layout, addr: u64, t: &TypeInfo) -> Option<LenProbe> {
        let (via, len_at) = match t.kind {
            Kind::List | Kind::Deque | Kind::ByteArray => (None, OB_SIZE),
            Kind::Dict | Kind::OrderedDict => (None, l.dict_used),
            Kind::Set => (None, l.set_used),
            Kind::LruCache => (Some(l.lru_cache), l.dict_used),
            _ => return None,
        };
        Some(LenProbe {
            addr,
            ob_type: l.ob_type,
            type_addr: t.addr,
            via,
            len_at,
        })
    }

    /// The word that says whether the object is still what the census saw, and the one that
    /// holds its length (or the pointer to the object that does).
    fn first_words(&self) -> [u64; 2] {
        let second = self.via.unwrap_or(self.len_at);
        [
            self.addr.saturating_add(self.ob_type),
            self.addr.saturating_add(second),
        ]
    }

    fn length(word: Option<u64>) -> Option<u64> {
        word.map(|n| n as i64)
            .filter(|&n| n >= 0 && n as u64 <= MAX_ITEMS)
            .map(|n| n as u64)
    }
}

/// Reads words of the target: one `Option` per address, in order.
pub type WordReader<'a> = &'a dyn Fn(&[u64]) -> Vec<Option<u64>>;

/// A [`WordReader`] over any [`Memory`] (a copy; live watches use [`LiveMemory::words`]).
///
/// [`LiveMemory::words`]: super::memory::LiveMemory::words
pub fn words_of<M: Memory + ?Sized>(m: &M) -> impl Fn(&[u64]) -> Vec<Option<u64>> + '_ {
    move |addrs: &[u64]| addrs.iter().map(|&a| m.u64_at(a)).collect()
}

/// The containers of the latest census being probed, with the length last reported for each.
#[derive(Debug, Default)]
pub struct Prober {
    probes: Vec<(String, LenProbe, u64)>,
}

impl Prober {
    /// Probe the containers of a fresh census (its lengths are the starting point).
    pub fn from_census(rows: &[ContainerRow]) -> Prober {
        let mut probes: Vec<(String, LenProbe, u64)> = rows
            .iter()
            .filter_map(|r| r.probe.map(|p| (r.name.clone(), p, r.len)))
            .collect();
        // the longest first (the census sorts them so; a bound on the work either way)
        probes.sort_by_key(|p| std::cmp::Reverse(p.2));
        probes.truncate(MAX_PROBED);
        Prober { probes }
    }

    pub fn is_empty(&self) -> bool {
        self.probes.is_empty()
    }

    /// The lengths that changed since the last report, by container name: two words per
    /// container read at once, and a third for those whose length is one pointer away.
    pub fn changed(&mut self, words: WordReader) -> Vec<(String, u64)> {
        let addrs: Vec<u64> = self
            .probes
            .iter()
            .flat_map(|(_, p, _)| p.first_words())
            .collect();
        let got = words(&addrs);
        let word = |i: usize| got.get(i).copied().flatten();
        // (probe index, length word or pointer) of the objects still of their census type
        let alive: Vec<(usize, Option<u64>)> = self
            .probes
            .iter()
            .enumerate()
            .filter(|(i, (_, p, _))| word(2 * i) == Some(p.type_addr))
            .map(|(i, _)| (i, word(2 * i + 1)))
            .collect();
        let second: Vec<u64> = alive
            .iter()
            .filter_map(|&(i, w)| {
                let p = &self.probes[i].1;
                p.via?;
                let ptr = w.filter(|&a| a != 0 && a.is_multiple_of(8) && a < MAX_ADDR)?;
                Some(ptr.saturating_add(p.len_at))
            })
            .collect();
        let got2 = if second.is_empty() {
            Vec::new()
        } else {
            words(&second)
        };
        let mut via_words = got2.into_iter();
        let mut out = Vec::new();
        for (i, w) in alive {
            let (name, p, last) = &mut self.probes[i];
            let len_word = if p.via.is_some() {
                let ptr_ok = w.is_some_and(|a| a != 0 && a.is_multiple_of(8) && a < MAX_ADDR);
                if !ptr_ok {
                    continue;
                }
                via_words.next().flatten()
            } else {
                w
            };
            if let Some(n) = LenProbe::length(len_word)
                && n != *last
            {
                *last = n;
                out.push((name.clone(), n));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Memory made of words at given addresses.
    struct Words(Vec<(u64, u64)>);
    impl Memory for Words {
        fn read(&self, addr: u64, buf: &mut [u8]) -> bool {
            match self.0.iter().find(|w| w.0 == addr) {
                Some(w) if buf.len() == 8 => {
                    buf.copy_from_slice(&w.1.to_le_bytes());
                    true
                }
                _ => false,
            }
        }
    }

    fn row(name: &str, len: u64, probe: LenProbe) -> ContainerRow {
        ContainerRow {
            name: name.into(),
            len,
            probe: Some(probe),
            ..ContainerRow::default()
        }
    }

    #[test]
    fn reports_changed_lengths_of_objects_that_are_still_what_the_census_saw() {
        let list = LenProbe {
            addr: 0x1000,
            ob_type: 8,
            type_addr: 0xa0,
            via: None,
            len_at: 16,
        };
        let cache = LenProbe {
            addr: 0x2000,
            type_addr: 0xb0,
            via: Some(72),
            len_at: 16,
            ..list
        };
        let freed = LenProbe {
            addr: 0x3000,
            ..list
        };
        let mut p = Prober::from_census(&[
            row("m.LOG", 10, list),
            row("m.cached", 5, cache),
            row("m.GONE", 3, freed),
        ]);
        let mem = Words(vec![
            (0x1008, 0xa0),
            (0x1010, 12),
            (0x2008, 0xb0),
            (0x2048, 0x4000),
            (0x4010, 5),
            // another type now lives where m.GONE was
            (0x3008, 0xc0),
            (0x3010, 99),
        ]);
        assert_eq!(p.changed(&words_of(&mem)), vec![("m.LOG".to_string(), 12)]);
        // reported once, until it changes again
        assert!(p.changed(&words_of(&mem)).is_empty());
        // the cache's length is one pointer away
        let mem = Words(vec![(0x2008, 0xb0), (0x2048, 0x4000), (0x4010, 7)]);
        assert_eq!(
            p.changed(&words_of(&mem)),
            vec![("m.cached".to_string(), 7)]
        );
        // garbage lengths are not lengths, nor garbage pointers pointers
        let bad = Words(vec![
            (0x1008, 0xa0),
            (0x1010, u64::MAX),
            (0x2008, 0xb0),
            (0x2048, 0x4001),
        ]);
        assert!(p.changed(&words_of(&bad)).is_empty());
    }

    #[test]
    fn probes_at_most_the_longest_containers() {
        let probe = LenProbe::default();
        let rows: Vec<ContainerRow> = (0..MAX_PROBED as u64 + 10)
            .map(|i| row(&format!("m.C{i}"), i, probe))
            .collect();
        let p = Prober::from_census(&rows);
        assert_eq!(p.probes.len(), MAX_PROBED);
        assert!(p.probes.iter().all(|(_, _, len)| *len >= 10));
    }
}
