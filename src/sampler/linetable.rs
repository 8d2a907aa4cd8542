//! A code object's line table read the way CPython reads it: the source line of the
//! instruction at a byte offset in the code. Three formats, by version:
//!
//! - 3.8/3.9 `co_lnotab`: pairs (address increment, signed line increment), an address at
//!   which the line changes, in bytes;
//! - 3.10 `co_linetable`: pairs (address delta, signed line delta; −128: no line), each an
//!   address range;
//! - 3.11+ `co_linetable` (the location table): entries of one header byte (bit 7 set, a
//!   4-bit code, length − 1 in code units) and then, by code, a signed varint line delta (14:
//!   long form, with three more varints; 13: no columns), a line delta of `code − 10` and two
//!   column bytes (10–12), no line change and one column byte (0–9), or no location (15).
//!
//! The table comes from the target: every loop is bounded by its length, a malformed table
//! gives `None`, never a panic.

/// Which table a version has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Lnotab,
    Linetable310,
    Locations,
}

impl Format {
    pub fn of(minor: u32) -> Format {
        match minor {
            ..=9 => Format::Lnotab,
            10 => Format::Linetable310,
            _ => Format::Locations,
        }
    }
}

/// The line of the instruction at byte `offset` of a code object whose first line is
/// `first`; `None` when the table gives it no line or is malformed. A negative offset (a
/// frame that has not run its first instruction) is the first line.
pub fn line_at(format: Format, table: &[u8], first: i64, offset: i64) -> Option<u32> {
    if offset < 0 {
        return u32::try_from(first).ok();
    }
    let line = match format {
        Format::Lnotab => lnotab(table, first, offset),
        Format::Linetable310 => linetable_310(table, first, offset),
        Format::Locations => locations(table, first, offset / 2),
    }?;
    u32::try_from(line).ok().filter(|&l| l > 0)
}

fn lnotab(table: &[u8], first: i64, offset: i64) -> Option<i64> {
    let mut line = first;
    let mut addr = 0i64;
    for pair in table.chunks_exact(2) {
        addr += pair[0] as i64;
        if addr > offset {
            break;
        }
        line += pair[1] as i8 as i64;
    }
    Some(line)
}

fn linetable_310(table: &[u8], first: i64, offset: i64) -> Option<i64> {
    let mut end = 0i64;
    let mut computed = first;
    for pair in table.chunks_exact(2) {
        let start = end;
        end += pair[0] as i64;
        let delta = pair[1] as i8;
        let line = if delta == -128 {
            None
        } else {
            computed += delta as i64;
            Some(computed)
        };
        if start <= offset && offset < end {
            return line;
        }
    }
    None
}

/// A cursor over the location table.
struct Cursor<'a> {
    table: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.table.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    /// 6 bits a byte, bit 6 for more; at most 32 bits' worth.
    fn varint(&mut self) -> Option<u64> {
        let mut b = self.byte()?;
        let mut v = (b & 63) as u64;
        let mut shift = 6;
        while b & 64 != 0 {
            if shift > 30 {
                return None;
            }
            b = self.byte()?;
            v |= ((b & 63) as u64) << shift;
            shift += 6;
        }
        Some(v)
    }

    fn svarint(&mut self) -> Option<i64> {
        let v = self.varint()?;
        Some(if v & 1 != 0 {
            -((v >> 1) as i64)
        } else {
            (v >> 1) as i64
        })
    }
}

fn locations(table: &[u8], first: i64, unit: i64) -> Option<i64> {
    let mut c = Cursor { table, at: 0 };
    let mut line = first;
    let mut addr = 0i64;
    while c.at < table.len() {
        let head = c.byte()?;
        if head & 0x80 == 0 {
            return None;
        }
        let code = (head >> 3) & 15;
        let len = (head & 7) as i64 + 1;
        let delta = match code {
            15 => None,
            14 => {
                let d = c.svarint()?;
                for _ in 0..3 {
                    c.varint()?;
                }
                Some(d)
            }
            13 => Some(c.svarint()?),
            10..=12 => {
                c.byte()?;
                c.byte()?;
                Some(code as i64 - 10)
            }
            _ => {
                c.byte()?;
                Some(0)
            }
        };
        if let Some(d) = delta {
            line += d;
        }
        if addr <= unit && unit < addr + len {
            return delta.map(|_| line);
        }
        addr += len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lnotab_lines_change_at_their_addresses() {
        // line 10 at 0, +1 at byte 6, +2 at byte 10, −3 at byte 20 (a loop's jump back)
        let t = [6, 1, 4, 2, 10, (-3i8) as u8];
        let at = |o| line_at(Format::Lnotab, &t, 10, o);
        assert_eq!(
            [at(0), at(5), at(6), at(9), at(10), at(19), at(20), at(100)],
            [
                Some(10),
                Some(10),
                Some(11),
                Some(11),
                Some(13),
                Some(13),
                Some(10),
                Some(10)
            ]
        );
        assert_eq!(at(-1), Some(10));
    }

    #[test]
    fn linetable_310_ranges_and_lines_without_a_number() {
        // [0,4) line 5, [4,10) no line, [10,12) line 7
        let t = [4, 0, 6, 0x80, 2, 2];
        let at = |o| line_at(Format::Linetable310, &t, 5, o);
        assert_eq!(
            [at(0), at(3), at(4), at(9), at(10), at(11), at(12)],
            [Some(5), Some(5), None, None, Some(7), Some(7), None]
        );
    }

    #[test]
    fn location_table_entries_of_every_form() {
        // units [0,1) no-column +1 -> 21; [1,3) short form -> 21; [3,4) one-line +2 -> 23;
        // [4,6) long form -5 -> 18; [6,7) no location
        let t = [
            0x80 | (13 << 3),
            2, // +1 (svarint 2)
            0x80 | (5 << 3) | 1,
            7,
            0x80 | (12 << 3),
            4,
            9,
            0x80 | (14 << 3) | 1,
            11,
            0,
            1,
            1, // -5 (svarint 11), end line, cols
            0x80 | (15 << 3),
        ];
        let at = |unit: i64| line_at(Format::Locations, &t, 20, unit * 2);
        assert_eq!(
            (0..8).map(at).collect::<Vec<_>>(),
            [
                Some(21),
                Some(21),
                Some(21),
                Some(23),
                Some(18),
                Some(18),
                None,
                None
            ]
        );
    }

    #[test]
    fn garbage_tables_give_no_line_and_no_panic() {
        assert_eq!(line_at(Format::Locations, &[0x01, 0x02], 1, 0), None);
        assert_eq!(
            line_at(Format::Locations, &[0x80 | (14 << 3), 0xff], 1, 0),
            None
        );
        assert_eq!(
            line_at(Format::Locations, &[0x80 | (14 << 3); 64], 1, 0),
            None
        );
        // a line pushed below 1 is no line
        assert_eq!(line_at(Format::Lnotab, &[0, 0x80], 3, 4), None);
        assert_eq!(line_at(Format::Linetable310, &[1], 3, 0), None);
        let big: Vec<u8> = (0..4096).map(|i| (i * 37) as u8).collect();
        for f in [Format::Lnotab, Format::Linetable310, Format::Locations] {
            for o in [0, 7, 1000, 1 << 40] {
                let _ = line_at(f, &big, 1, o);
            }
        }
    }
}
