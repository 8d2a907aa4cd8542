//! Decoding `str` objects (PEP 393) of the target: for names of types, modules and globals.

use super::layout::Layout;
use super::memory::{Memory, MemoryExt};

/// The `state` bits of a str.
pub struct StrState {
    pub kind: u32,
    pub compact: bool,
    pub ascii: bool,
}

/// The `state` bit-field: `interned` (2 bits), `kind` (3), `compact`, `ascii` — the same bits in
/// every supported version (checked live by tests/heap_layout.rs).
pub fn state<M: Memory + ?Sized>(m: &M, l: &Layout, addr: u64) -> Option<StrState> {
    if addr >= crate::heap::memory::MAX_ADDR {
        return None;
    }
    let s = m.u32_at(addr + l.str_state)?;
    Some(StrState {
        kind: (s >> 2) & 7,
        compact: s & 0x20 != 0,
        ascii: s & 0x40 != 0,
    })
}

/// Where the characters of the str at `addr` are (compact ASCII, compact, or legacy).
pub fn data_address<M: Memory + ?Sized>(
    m: &M,
    l: &Layout,
    addr: u64,
    st: &StrState,
) -> Option<u64> {
    if addr >= crate::heap::memory::MAX_ADDR {
        return None;
    }
    if st.compact {
        Some(if st.ascii {
            addr + l.str_ascii_data
        } else {
            addr + l.str_compact_data
        })
    } else {
        // legacy (str subclasses): a data pointer where the compact data would start
        m.ptr_at(addr + l.str_legacy_data)
    }
}

/// The text of the str at `addr`, if it is at most `max` characters long and decodes.
pub fn read_str<M: Memory + ?Sized>(m: &M, l: &Layout, addr: u64, max: usize) -> Option<String> {
    if addr >= crate::heap::memory::MAX_ADDR {
        return None;
    }
    let len = m.i64_at(addr + l.str_length)?;
    if len < 0 || len as usize > max {
        return None;
    }
    let len = len as usize;
    let st = state(m, l, addr)?;
    if !matches!(st.kind, 1 | 2 | 4) {
        return None;
    }
    let data = data_address(m, l, addr, &st)?;
    let raw = m.bytes_at(data, len * st.kind as usize)?;
    Some(match st.kind {
        1 => raw.iter().map(|&b| b as char).collect(),
        2 => String::from_utf16_lossy(
            &raw.chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect::<Vec<_>>(),
        ),
        _ => raw
            .chunks_exact(4)
            .map(|c| {
                char::from_u32(u32::from_le_bytes([c[0], c[1], c[2], c[3]])).unwrap_or('\u{fffd}')
            })
            .collect(),
    })
}

/// Does the str at `addr` equal `want`? Cheaper than decoding: compares length first.
pub fn str_equals<M: Memory + ?Sized>(m: &M, l: &Layout, addr: u64, want: &str) -> bool {
    if addr >= crate::heap::memory::MAX_ADDR {
        return false;
    }
    let Some(len) = m.i64_at(addr + l.str_length) else {
        return false;
    };
    if len != want.chars().count() as i64 {
        return false;
    }
    read_str(m, l, addr, want.len()).is_some_and(|s| s == want)
}
