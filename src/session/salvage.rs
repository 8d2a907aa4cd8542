//! Salvage: read the rows of one table straight from the pages of a damaged SQLite file.
//!
//! SQLite gives up on a table at the first page it cannot read; a session file cut short
//! loses whole subtrees that way, often the first rows too. This walker reads the table's
//! b-tree itself and skips what is missing or malformed, so every leaf page that survived
//! gives its rows. It reads the main file only (not a `-wal`), never writes, and treats the
//! file as hostile: every page number, offset, count and length is checked, pages are
//! visited at most once, and the depth is bounded.
//!
//! Format reference: <https://www.sqlite.org/fileformat.html> (b-tree pages, varints,
//! record format).

use std::collections::HashSet;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// A column value of a salvaged row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    pub fn int(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            _ => None,
        }
    }

    pub fn text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
}

const MAX_DEPTH: usize = 32;

pub struct Pages {
    file: File,
    page_size: usize,
    page_count: u32,
}

/// Read a SQLite varint at `buf[i..]`: (value, bytes used).
fn varint(buf: &[u8], i: usize) -> Option<(i64, usize)> {
    let mut v: u64 = 0;
    for k in 0..9 {
        let b = *buf.get(i + k)?;
        if k == 8 {
            v = (v << 8) | b as u64;
            return Some((v as i64, 9));
        }
        v = (v << 7) | (b & 0x7f) as u64;
        if b & 0x80 == 0 {
            return Some((v as i64, k + 1));
        }
    }
    None
}

fn be(buf: &[u8], i: usize, n: usize) -> Option<u64> {
    let s = buf.get(i..i + n)?;
    Some(s.iter().fold(0u64, |a, &b| (a << 8) | b as u64))
}

/// Decode a record (header of serial types, then values). `None` if malformed.
pub fn decode_record(p: &[u8]) -> Option<Vec<Value>> {
    let (hlen, used) = varint(p, 0)?;
    let hlen = usize::try_from(hlen).ok()?;
    if hlen > p.len() || hlen < used {
        return None;
    }
    let mut types = Vec::new();
    let mut i = used;
    while i < hlen {
        let (t, u) = varint(p, i)?;
        types.push(t);
        i += u;
        if types.len() > 4096 {
            return None;
        }
    }
    let mut at = hlen;
    let mut out = Vec::with_capacity(types.len());
    for t in types {
        let (v, n) = match t {
            0 => (Value::Null, 0),
            1..=6 => {
                let n = [0, 1, 2, 3, 4, 6, 8][t as usize];
                let raw = be(p, at, n)?;
                let shift = 64 - 8 * n as u32;
                (Value::Int(((raw << shift) as i64) >> shift), n)
            }
            7 => (Value::Real(f64::from_bits(be(p, at, 8)?)), 8),
            8 => (Value::Int(0), 0),
            9 => (Value::Int(1), 0),
            t if t >= 12 && t % 2 == 0 => {
                let n = ((t - 12) / 2) as usize;
                (Value::Blob(p.get(at..at.checked_add(n)?)?.to_vec()), n)
            }
            t if t >= 13 => {
                let n = ((t - 13) / 2) as usize;
                let s = p.get(at..at.checked_add(n)?)?;
                (Value::Text(String::from_utf8_lossy(s).into_owned()), n)
            }
            _ => return None,
        };
        out.push(v);
        at += n;
    }
    Some(out)
}

impl Pages {
    pub fn open(path: &Path) -> Option<Pages> {
        let file = File::open(path).ok()?;
        let mut header = [0u8; 100];
        file.read_exact_at(&mut header, 0).ok()?;
        if &header[..16] != b"SQLite format 3\0" {
            return None;
        }
        let page_size = match be(&header, 16, 2)? {
            1 => 65536,
            n if (512..=32768).contains(&n) && n.is_power_of_two() => n as usize,
            _ => return None,
        };
        let len = file.metadata().ok()?.len();
        let page_count = (len / page_size as u64).min(u32::MAX as u64) as u32;
        Some(Pages {
            file,
            page_size,
            page_count,
        })
    }

    fn page(&self, n: u32) -> Option<Vec<u8>> {
        if n == 0 || n > self.page_count {
            return None;
        }
        let mut buf = vec![0u8; self.page_size];
        self.file
            .read_exact_at(&mut buf, (n as u64 - 1) * self.page_size as u64)
            .ok()?;
        Some(buf)
    }

    /// The payload of a table-leaf cell, following overflow pages (bounded by the file).
    fn payload(&self, page: &[u8], at: usize, total: usize) -> Option<Vec<u8>> {
        let u = self.page_size; // no reserved bytes in memwatch's files
        let max_local = u - 35;
        if total <= max_local {
            return page.get(at..at + total).map(<[u8]>::to_vec);
        }
        let min_local = (u - 12) * 32 / 255 - 23;
        let k = min_local + (total - min_local) % (u - 4);
        let local = if k <= max_local { k } else { min_local };
        let mut out = page.get(at..at + local)?.to_vec();
        let mut next = be(page, at + local, 4)? as u32;
        let mut seen = HashSet::new();
        while out.len() < total {
            if !seen.insert(next) {
                return None;
            }
            let p = self.page(next)?;
            next = be(&p, 0, 4)? as u32;
            let take = (total - out.len()).min(u - 4);
            out.extend_from_slice(p.get(4..4 + take)?);
        }
        Some(out)
    }

    /// Visit every readable row of the table b-tree rooted at `root`, in rowid order as far
    /// as the surviving pages allow. Returns how many pages could not be read.
    pub fn walk_table(&self, root: u32, each: &mut dyn FnMut(i64, Vec<Value>)) -> usize {
        let mut seen = HashSet::new();
        let mut lost = 0;
        self.walk(root, 0, &mut seen, &mut lost, each);
        lost
    }

    fn walk(
        &self,
        n: u32,
        depth: usize,
        seen: &mut HashSet<u32>,
        lost: &mut usize,
        each: &mut dyn FnMut(i64, Vec<Value>),
    ) {
        if depth > MAX_DEPTH || !seen.insert(n) {
            return;
        }
        let Some(page) = self.page(n) else {
            *lost += 1;
            return;
        };
        let h = if n == 1 { 100 } else { 0 };
        let kind = page[h];
        let Some(cells) = be(&page, h + 3, 2).map(|c| c as usize) else {
            *lost += 1;
            return;
        };
        let header_len = match kind {
            0x0d => 8,
            0x05 => 12,
            _ => {
                *lost += 1;
                return;
            }
        };
        if h + header_len + 2 * cells > page.len() {
            *lost += 1;
            return;
        }
        for c in 0..cells {
            let Some(off) = be(&page, h + header_len + 2 * c, 2).map(|o| o as usize) else {
                continue;
            };
            if off >= page.len() {
                continue;
            }
            if kind == 0x05 {
                if let Some(child) = be(&page, off, 4) {
                    self.walk(child as u32, depth + 1, seen, lost, each);
                }
            } else {
                let Some((total, a)) = varint(&page, off) else {
                    continue;
                };
                let Some((rowid, b)) = varint(&page, off + a) else {
                    continue;
                };
                let Ok(total) = usize::try_from(total) else {
                    continue;
                };
                if total > 1 << 30 {
                    continue;
                }
                if let Some(rec) = self
                    .payload(&page, off + a + b, total)
                    .and_then(|p| decode_record(&p))
                {
                    each(rowid, rec);
                }
            }
        }
        if kind == 0x05
            && let Some(right) = be(&page, h + 8, 4)
        {
            self.walk(right as u32, depth + 1, seen, lost, each);
        }
    }

    /// Root page of each table, from the schema table on page 1.
    pub fn roots(&self) -> Vec<(String, u32)> {
        let mut out = Vec::new();
        self.walk_table(1, &mut |_, rec| {
            if let (Some("table"), Some(name), Some(root)) = (
                rec.first().and_then(Value::text),
                rec.get(1).and_then(Value::text),
                rec.get(3).and_then(Value::int),
            ) && let Ok(root) = u32::try_from(root)
            {
                out.push((name.to_string(), root));
            }
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db_with_rows(path: &Path, n: i64) {
        let c = rusqlite::Connection::open(path).unwrap();
        c.execute_batch(
            "CREATE TABLE a(x TEXT); CREATE TABLE s(t INTEGER PRIMARY KEY, v INTEGER, w TEXT);",
        )
        .unwrap();
        c.execute_batch("BEGIN").unwrap();
        for i in 0..n {
            c.execute(
                "INSERT INTO s VALUES (?1, ?2, ?3)",
                rusqlite::params![i * 10, i - 50, format!("row {i}")],
            )
            .unwrap();
        }
        c.execute("INSERT INTO a VALUES (?1)", [&"x".repeat(20_000)])
            .unwrap();
        c.execute_batch("COMMIT").unwrap();
    }

    #[test]
    fn reads_every_row_of_a_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.db");
        db_with_rows(&p, 5000);
        let pages = Pages::open(&p).unwrap();
        let roots = pages.roots();
        let s = roots.iter().find(|(n, _)| n == "s").unwrap().1;
        let mut rows = Vec::new();
        assert_eq!(
            pages.walk_table(s, &mut |rowid, rec| rows.push((rowid, rec))),
            0
        );
        assert_eq!(rows.len(), 5000);
        assert_eq!(rows[7].0, 70);
        assert_eq!(
            rows[7].1,
            vec![Value::Null, Value::Int(-43), Value::Text("row 7".into())]
        );
        assert!(rows.windows(2).all(|w| w[0].0 < w[1].0));
        // a row with overflow pages
        let a = roots.iter().find(|(n, _)| n == "a").unwrap().1;
        let mut big = Vec::new();
        pages.walk_table(a, &mut |_, rec| big.push(rec));
        assert_eq!(big[0][0], Value::Text("x".repeat(20_000)));
    }

    #[test]
    fn a_cut_file_gives_what_survived() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.db");
        db_with_rows(&p, 20_000);
        let bytes = std::fs::read(&p).unwrap();
        let cut = dir.path().join("cut.db");
        std::fs::write(&cut, &bytes[..bytes.len() * 6 / 10]).unwrap();
        let pages = Pages::open(&cut).unwrap();
        let s = pages.roots().into_iter().find(|(n, _)| n == "s").unwrap().1;
        let mut n = 0;
        let lost = pages.walk_table(s, &mut |_, _| n += 1);
        assert!(lost > 0);
        assert!(n > 5_000 && n < 20_000, "{n} rows survived");
    }

    #[test]
    fn garbage_never_panics() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.db");
        let mut x: u32 = 12345;
        let mut bytes = b"SQLite format 3\0".to_vec();
        bytes.extend_from_slice(&[0x10, 0x00]); // page size 4096
        while bytes.len() < 4096 * 16 {
            x = x.wrapping_mul(1664525).wrapping_add(1013904223);
            bytes.push((x >> 24) as u8);
        }
        // make every page look like an interior table page pointing around
        for page in 1..16 {
            bytes[page * 4096] = 0x05;
        }
        std::fs::write(&p, &bytes).unwrap();
        let pages = Pages::open(&p).unwrap();
        for root in 0..20 {
            pages.walk_table(root, &mut |_, _| {});
        }
        let _ = pages.roots();
        for len in 0..64 {
            let _ = decode_record(&bytes[100..100 + len]);
        }
    }
}
