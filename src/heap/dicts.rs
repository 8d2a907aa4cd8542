//! Dicts of the target: their keys objects (two layouts: ≤3.10 and 3.11+), iteration over
//! entries (combined and split tables), string-key lookup, and `sys.getsizeof`.
//!
//! Bounds: a keys object is refused when its size or entry count is implausible
//! ([`MAX_ENTRIES`]); iteration never reads more entries than that.

use super::layout::Layout;
use super::memory::{Memory, MemoryExt, read_array};
use super::strings;

pub const MAX_ENTRIES: u64 = 1 << 28;

/// A decoded keys object.
#[derive(Debug, Clone, Copy)]
pub struct Keys {
    pub addr: u64,
    pub refcnt: i64,
    /// Slots in the hash table (a power of two).
    pub size: u64,
    pub nentries: u64,
    pub usable: u64,
    pub entries: u64,
    pub entry_size: u64,
    pub key_at: u64,
    pub value_at: u64,
    /// Bytes of the index table.
    pub index_bytes: u64,
    /// 3.11+: 0 general, 1 unicode, 2 split.
    pub kind: u8,
}

impl Keys {
    pub fn read<M: Memory + ?Sized>(m: &M, l: &Layout, addr: u64) -> Option<Keys> {
        if addr >= crate::heap::memory::MAX_ADDR {
            return None;
        }
        let refcnt = m.i64_at(addr)?;
        if l.dict_keys_311 {
            // dk_log2_size, dk_log2_index_bytes and dk_kind are three bytes in a row
            let log2_size = m.u8_at(addr + l.keys_size)? as u64;
            let log2_index = m.u8_at(addr + l.keys_size + 1)? as u64;
            let kind = m.u8_at(addr + l.keys_size + 2)?;
            if log2_size > 40 || log2_index > 43 || kind > 2 {
                return None;
            }
            let size = 1u64 << log2_size;
            let usable = m.i64_at(addr + l.keys_usable)?;
            let nentries = m.i64_at(addr + l.keys_nentries)?;
            if nentries < 0 || nentries as u64 > ((size << 1) / 3).min(MAX_ENTRIES) || usable < 0 {
                return None;
            }
            let index_bytes = 1u64 << log2_index;
            let general = kind == 0;
            Some(Keys {
                addr,
                refcnt,
                size,
                nentries: nentries as u64,
                usable: usable as u64,
                entries: addr + l.keys_indices + index_bytes,
                entry_size: if general { 24 } else { 16 },
                key_at: if general { 8 } else { 0 },
                value_at: if general { 16 } else { 8 },
                index_bytes,
                kind,
            })
        } else {
            let size = m.i64_at(addr + l.keys_size)?;
            let usable = m.i64_at(addr + l.keys_usable)?;
            let nentries = m.i64_at(addr + l.keys_nentries)?;
            if size <= 0 || (size as u64) > MAX_ENTRIES * 2 || !(size as u64).is_power_of_two() {
                return None;
            }
            let size = size as u64;
            if nentries < 0 || nentries as u64 > ((size << 1) / 3).min(MAX_ENTRIES) || usable < 0 {
                return None;
            }
            let ix = if size <= 0xff {
                1
            } else if size <= 0xffff {
                2
            } else if size <= 0xffff_ffff {
                4
            } else {
                8
            };
            Some(Keys {
                addr,
                refcnt,
                size,
                nentries: nentries as u64,
                usable: usable as u64,
                entries: addr + l.keys_indices + size * ix,
                entry_size: 24,
                key_at: 8,
                value_at: 16,
                index_bytes: size * ix,
                kind: 0,
            })
        }
    }

    /// `USABLE_FRACTION(size)`.
    pub fn usable_fraction(&self) -> u64 {
        (self.size << 1) / 3
    }

    /// `_PyDict_KeysSize`: bytes of the keys object.
    pub fn bytes(&self, l: &Layout) -> u64 {
        let entry = if l.dict_keys_311 && self.kind != 0 {
            16
        } else {
            24
        };
        l.keys_indices + self.index_bytes + self.usable_fraction() * entry
    }

    pub fn key<M: Memory + ?Sized>(&self, m: &M, i: u64) -> Option<u64> {
        m.ptr_at(
            self.entries
                .saturating_add(i.saturating_mul(self.entry_size))
                .saturating_add(self.key_at),
        )
    }
}

/// A dict's table: its keys object and, for split tables, where `values[0]` is.
pub struct Table {
    pub keys: Keys,
    pub values: Option<u64>,
}

impl Table {
    pub fn of_dict<M: Memory + ?Sized>(m: &M, l: &Layout, dict: u64) -> Option<Table> {
        if dict >= crate::heap::memory::MAX_ADDR {
            return None;
        }
        let keys = Keys::read(m, l, m.ptr_at(dict + l.dict_keys)?)?;
        let values = m
            .u64_at(dict + l.dict_values)
            .filter(|&v| v != 0)
            .map(|v| v + l.split_values_start);
        Some(Table { keys, values })
    }

    /// Call `f(key, value)` for every live entry (NULL keys or values skipped).
    pub fn for_each<M: Memory + ?Sized>(&self, m: &M, f: impl FnMut(u64, u64)) {
        self.for_each_range(m, 0, self.keys.nentries, f);
    }

    /// Entries `start .. start + limit` (in entry order), read in bounded chunks; a damaged
    /// table costs a failed read or two, not one per entry.
    pub fn for_each_range<M: Memory + ?Sized>(
        &self,
        m: &M,
        start: u64,
        limit: u64,
        mut f: impl FnMut(u64, u64),
    ) {
        let end = self.keys.nentries.min(start.saturating_add(limit));
        if start >= end {
            return;
        }
        let n = end - start;
        let k = &self.keys;
        let at = k.entries.saturating_add(start.saturating_mul(k.entry_size));
        let ptr = |e: &[u8], off: u64| {
            let off = off as usize;
            e.get(off..off + 8)
                .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
                .filter(|&p| p != 0 && p.is_multiple_of(8))
        };
        match self.values {
            None => {
                read_array(m, at, n, k.entry_size, |e| {
                    if let (Some(key), Some(value)) = (ptr(e, k.key_at), ptr(e, k.value_at)) {
                        f(key, value);
                    }
                });
            }
            Some(values) => {
                let mut keys = Vec::with_capacity(n.min(1 << 16) as usize);
                if !read_array(m, at, n, k.entry_size, |e| keys.push(ptr(e, k.key_at))) {
                    return;
                }
                let mut i = 0usize;
                read_array(m, values.saturating_add(start * 8), n, 8, |e| {
                    if let (Some(Some(key)), Some(value)) = (keys.get(i), ptr(e, 0)) {
                        f(*key, value);
                    }
                    i += 1;
                });
            }
        }
    }
}

/// The value stored under the str key `name` in the dict at `dict` (by comparing key text).
pub fn lookup_str<M: Memory + ?Sized>(m: &M, l: &Layout, dict: u64, name: &str) -> Option<u64> {
    if dict >= crate::heap::memory::MAX_ADDR {
        return None;
    }
    let t = Table::of_dict(m, l, dict)?;
    let mut found = None;
    // small dicts (type and module dicts) in practice; bounded by the entry count
    t.for_each(m, |k, v| {
        if found.is_none() && strings::str_equals(m, l, k, name) {
            found = Some(v);
        }
    });
    found
}

/// `dict.__sizeof__` of the dict at `dict` whose type has `basicsize`.
pub fn sizeof<M: Memory + ?Sized>(m: &M, l: &Layout, dict: u64, basicsize: u64) -> u64 {
    if dict >= crate::heap::memory::MAX_ADDR {
        return basicsize;
    }
    let Some(t) = Table::of_dict(m, l, dict) else {
        return basicsize;
    };
    let mut size = basicsize;
    if t.values.is_some() {
        let slots = if l.dict_keys_311 {
            t.keys.nentries.saturating_add(t.keys.usable)
        } else {
            t.keys.usable_fraction()
        };
        size = size.saturating_add(slots.saturating_mul(8));
    }
    if t.keys.refcnt == 1 {
        size = size.saturating_add(t.keys.bytes(l));
    }
    size
}

/// Number of items (`ma_used`).
pub fn len<M: Memory + ?Sized>(m: &M, l: &Layout, dict: u64) -> Option<u64> {
    if dict >= crate::heap::memory::MAX_ADDR {
        return None;
    }
    m.i64_at(dict + l.dict_used)
        .filter(|&n| n >= 0 && (n as u64) <= MAX_ENTRIES)
        .map(|n| n as u64)
}
