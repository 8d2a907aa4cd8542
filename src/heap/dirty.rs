//! What `/proc/PID/pagemap` tells of the target's pages: which were written since a moment
//! (the kernel's soft-dirty bits), and which hold data at all (resident or swapped).
//!
//! Writing `4` to `/proc/PID/clear_refs` clears the soft-dirty bit of every page of the
//! process (and write-protects them: the first write to each page afterwards takes a minor
//! fault in the target, which sets the bit again). `/proc/PID/pagemap` then tells, 8 bytes a
//! page, which pages were written since (bit 55). A census uses it to copy the heap while the
//! target runs and, paused, copy again only the pages written meanwhile: the pause is a few
//! milliseconds whatever the heap's size.
//!
//! What it touches in the target: the soft-dirty bits and write protection of its page table
//! entries (no byte of its memory; its RSS and USS are unchanged), and the minor faults that
//! follow. Another tool clearing the same process's bits between memwatch's clear and its read
//! (CRIU's incremental dumps, a second memwatch on the same process) would hide writes from
//! memwatch. So it is asked for (`--soft-dirty`), not the default: its cost to a target's
//! writes is measured by `scripts/bench_census.py` where the kernel keeps the bits.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::sync::OnceLock;

const PAGE: u64 = 4096;
const SOFT_DIRTY: u64 = 1 << 55;
const SWAPPED: u64 = 1 << 62;
const PRESENT: u64 = 1 << 63;
/// The page frame number of a present page (zero when the reader may not see it).
const PFN: u64 = (1 << 55) - 1;
/// Pagemap entries read per call (512 KiB).
const ENTRIES_PER_READ: u64 = 64 << 10;

/// Whether this kernel keeps soft-dirty bits: checked once on memwatch's own memory (clear,
/// see the bit clear; write, see it set).
pub fn supported() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(self_test)
}

fn self_test() -> bool {
    let mut page = vec![0u8; 2 * PAGE as usize];
    // one whole page inside the buffer
    let addr = (page.as_ptr() as u64).next_multiple_of(PAGE);
    let off = (addr - page.as_ptr() as u64) as usize;
    page[off] = 1;
    let me = std::process::id() as i32;
    if clear(me).is_err() {
        return false;
    }
    let before = bit(me, addr);
    // SAFETY: a volatile write into our own buffer, so that it is not optimised away
    unsafe { std::ptr::write_volatile(page.as_mut_ptr().add(off), 2) };
    let after = bit(me, addr);
    std::hint::black_box(&page);
    before == Some(false) && after == Some(true)
}

fn bit(pid: i32, addr: u64) -> Option<bool> {
    let f = File::open(format!("/proc/{pid}/pagemap")).ok()?;
    let mut b = [0u8; 8];
    f.read_exact_at(&mut b, addr / PAGE * 8).ok()?;
    Some(u64::from_le_bytes(b) & SOFT_DIRTY != 0)
}

/// Clear the soft-dirty bits of every page of `pid`.
pub fn clear(pid: i32) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/{pid}/clear_refs"))?;
    f.write_all(b"4")
}

/// The parts of `runs` (absolute address ranges) whose pages were written since [`clear`],
/// page-aligned and coalesced. An error if pagemap cannot be read (then everything is to be
/// taken as written).
pub fn written(pid: i32, runs: &[(u64, u64)]) -> std::io::Result<Vec<(u64, u64)>> {
    pages_with(pid, runs, SOFT_DIRTY)
}

/// The parts of `runs` whose pages hold data: in memory or swapped out (pagemap bits 63 and
/// 62). A page of a private anonymous mapping that is neither was never written: it reads as
/// zeros. Page-aligned and coalesced; an error if pagemap cannot be read.
///
/// A page only ever read is mapped to the kernel's shared zero page: present, but zeros (a
/// copy of it by memwatch or another reader makes it so); where pagemap shows frame numbers
/// (root), such a page is left out too.
pub fn resident(pid: i32, runs: &[(u64, u64)]) -> std::io::Result<Vec<(u64, u64)>> {
    let zero = zero_page_frame();
    pages_where(pid, runs, |e| {
        e & SWAPPED != 0 || (e & PRESENT != 0 && (zero.is_none() || Some(e & PFN) != zero))
    })
}

/// The frame number of the kernel's zero page, if pagemap shows frame numbers to memwatch:
/// learned once, from a page of memwatch's own only read.
fn zero_page_frame() -> Option<u64> {
    static ZERO: OnceLock<Option<u64>> = OnceLock::new();
    *ZERO.get_or_init(|| {
        let page = memmap2::MmapOptions::new()
            .len(PAGE as usize)
            .map_anon()
            .ok()?;
        // SAFETY: a read of our own mapping (volatile: the read must happen, to map the page)
        let _ = unsafe { std::ptr::read_volatile(page.as_ptr()) };
        let f = File::open("/proc/self/pagemap").ok()?;
        let mut e = [0u8; 8];
        f.read_exact_at(&mut e, page.as_ptr() as u64 / PAGE * 8)
            .ok()?;
        let entry = u64::from_le_bytes(e);
        (entry & PRESENT != 0 && entry & PFN != 0).then_some(entry & PFN)
    })
}

/// The parts of `runs` whose pagemap entries have one of the bits of `mask` set.
fn pages_with(pid: i32, runs: &[(u64, u64)], mask: u64) -> std::io::Result<Vec<(u64, u64)>> {
    pages_where(pid, runs, |e| e & mask != 0)
}

/// The parts of `runs` whose pagemap entries `keep`.
fn pages_where(
    pid: i32,
    runs: &[(u64, u64)],
    keep: impl Fn(u64) -> bool,
) -> std::io::Result<Vec<(u64, u64)>> {
    let f = File::open(format!("/proc/{pid}/pagemap"))?;
    let mut out: Vec<(u64, u64)> = Vec::new();
    let mut buf = vec![0u8; (ENTRIES_PER_READ * 8) as usize];
    for &(lo, hi) in runs {
        if hi <= lo {
            continue;
        }
        let first = lo / PAGE;
        let last = (hi - 1) / PAGE;
        let mut page = first;
        while page <= last {
            let n = ENTRIES_PER_READ.min(last - page + 1);
            let b = &mut buf[..(n * 8) as usize];
            f.read_exact_at(b, page * 8)?;
            for (i, e) in b.chunks_exact(8).enumerate() {
                let entry = u64::from_le_bytes(e.try_into().unwrap_or([0; 8]));
                if !keep(entry) {
                    continue;
                }
                let p = page + i as u64;
                let (a, z) = ((p * PAGE).max(lo), ((p + 1) * PAGE).min(hi));
                match out.last_mut() {
                    Some(run) if run.1 == a => run.1 = z,
                    _ => out.push((a, z)),
                }
            }
            page += n;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_pages_of_our_own_memory() {
        if !supported() {
            eprintln!("skipped: this kernel keeps no soft-dirty bits");
            return;
        }
        let mut buf = vec![0u8; 64 * PAGE as usize];
        let base = (buf.as_ptr() as u64).next_multiple_of(PAGE);
        let off = (base - buf.as_ptr() as u64) as usize;
        for i in 0..32 {
            buf[off + i * PAGE as usize] = 1; // every page present
        }
        let me = std::process::id() as i32;
        clear(me).unwrap();
        // SAFETY: volatile writes into our own buffer
        unsafe {
            std::ptr::write_volatile(buf.as_mut_ptr().add(off + 3 * PAGE as usize + 10), 7);
            std::ptr::write_volatile(buf.as_mut_ptr().add(off + 4 * PAGE as usize), 7);
            std::ptr::write_volatile(buf.as_mut_ptr().add(off + 20 * PAGE as usize), 7);
        }
        let got = written(me, &[(base, base + 32 * PAGE)]).unwrap();
        std::hint::black_box(&buf);
        assert_eq!(
            got,
            vec![
                (base + 3 * PAGE, base + 5 * PAGE),
                (base + 20 * PAGE, base + 21 * PAGE)
            ]
        );
        // a run that starts and ends inside pages is clipped to it
        let got = written(me, &[(base + 3 * PAGE + 100, base + 3 * PAGE + 200)]).unwrap();
        assert_eq!(got, vec![(base + 3 * PAGE + 100, base + 3 * PAGE + 200)]);
    }

    #[test]
    fn resident_pages_of_our_own_memory() {
        let mut map = memmap2::MmapOptions::new()
            .len(8 * PAGE as usize)
            .map_anon()
            .unwrap();
        let base = map.as_ptr() as u64;
        // SAFETY: volatile accesses to our own mapping
        unsafe {
            std::ptr::write_volatile(map.as_mut_ptr(), 1); // page 0 written
            let _ = std::ptr::read_volatile(map.as_ptr().add(2 * PAGE as usize)); // 2 only read
            std::ptr::write_volatile(map.as_mut_ptr().add(5 * PAGE as usize + 9), 1); // 5 written
        }
        let me = std::process::id() as i32;
        let got = resident(me, &[(base, base + 8 * PAGE)]).unwrap();
        let page = |i: u64| (base + i * PAGE, base + (i + 1) * PAGE);
        if zero_page_frame().is_some() {
            // the page only read is the zero page: left out
            assert_eq!(got, vec![page(0), page(5)]);
        } else {
            eprintln!("pagemap shows no frame numbers here: a page only read counts as data");
            assert_eq!(got, vec![page(0), page(2), page(5)]);
        }
        std::hint::black_box(&map);
    }
}
