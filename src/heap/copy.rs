//! Copying the target's writable memory in a few large `process_vm_readv` calls (GB/s),
//! instead of the millions of small reads a walk makes (1–2 µs each).
//!
//! What is copied: private writable mappings (pymalloc arenas, the malloc heap, the
//! interpreter's data and bss); not shared mappings, not guard pages. The total is capped;
//! what is left out is read live by the fallback.

use std::io::IoSliceMut;
use std::sync::Mutex;

use nix::sys::uio::{RemoteIoVec, process_vm_readv};
use nix::unistd::Pid;

use memmap2::{Advice, MmapMut, MmapOptions};

use super::memory::{Region, RegionData};

/// Largest single `process_vm_readv`.
const CHUNK: usize = 64 << 20;

/// Copy buffers kept from one census to the next, at most this much in all: their pages are
/// faulted in and charged already, so a census of a small heap does not pay again for making
/// its buffers ready (zeroing and charging 10 MB was a fifth of a small census's CPU). Shared
/// by the census clocks of a tree (forked workers have mappings of the same sizes).
const KEEP_MAX: u64 = 32 << 20;
static KEPT: Mutex<Vec<MmapMut>> = Mutex::new(Vec::new());

/// A kept buffer of exactly `len` bytes, if there is one.
fn take_kept(len: u64) -> Option<MmapMut> {
    let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    let i = kept.iter().position(|m| m.len() as u64 == len)?;
    Some(kept.swap_remove(i))
}

/// Keep the buffers of a census's copy for the next one, as far as [`KEEP_MAX`] allows (the
/// rest is unmapped). Their contents are stale: [`copy_mapping`] overwrites every byte.
pub fn keep(regions: Vec<Region>) {
    let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    let mut total: u64 = kept.iter().map(|m| m.len() as u64).sum();
    for r in regions {
        if let RegionData::Map(m) = r.data
            && total + m.len() as u64 <= KEEP_MAX
        {
            total += m.len() as u64;
            kept.push(m);
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
}

/// Private writable readable mappings of `pid`, from `/proc/PID/maps`.
pub fn writable_mappings(pid: i32) -> std::io::Result<Vec<Mapping>> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
    let mut out = Vec::new();
    for line in maps.lines() {
        let mut f = line.split_whitespace();
        let (Some(range), Some(perms)) = (f.next(), f.next()) else {
            continue;
        };
        let path = line.split_whitespace().nth(5).unwrap_or("");
        if !perms.starts_with("rw") || perms.as_bytes().get(3) != Some(&b'p') {
            continue;
        }
        if path.starts_with("[v") {
            continue; // [vvar], [vsyscall]: not ordinary memory
        }
        let Some((a, b)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) else {
            continue;
        };
        if end > start {
            out.push(Mapping { start, end });
        }
    }
    Ok(out)
}

/// Copy one mapping; unreadable pages are zero. Returns the bytes actually read.
fn copy_mapping(pid: Pid, m: Mapping, data: &mut [u8]) -> u64 {
    let mut done = 0usize;
    let mut read_total = 0u64;
    while done < data.len() {
        let len = CHUNK.min(data.len() - done);
        let remote = [RemoteIoVec {
            base: (m.start as usize) + done,
            len,
        }];
        let mut local = [IoSliceMut::new(&mut data[done..done + len])];
        match process_vm_readv(pid, &mut local, &remote) {
            Ok(n) if n > 0 => {
                done += n;
                read_total += n as u64;
            }
            // the first page is unreadable: zero it (a kept buffer holds an older copy)
            _ => {
                let step = 4096.min(data.len() - done);
                data[done..done + step].fill(0);
                done += step;
            }
        }
    }
    read_total
}

/// Memory for the copy of each mapping, allocated and faulted in *before* the target is
/// paused, so that the pause costs only the copy itself.
pub struct Buffers {
    maps: Vec<(Mapping, MmapMut)>,
}

/// Anonymous memory, backed by huge pages where the kernel allows (fewer faults, faster to
/// make ready), and faulted in now rather than during the pause.
fn buffer(len: u64) -> Option<MmapMut> {
    if let Some(kept) = take_kept(len) {
        return Some(kept);
    }
    let map = MmapOptions::new().len(len as usize).map_anon().ok()?;
    if len >= 2 << 20 {
        let _ = map.advise(Advice::HugePage);
    }
    if map.advise(Advice::PopulateWrite).is_err() {
        // kernels before 5.14: touch every page
        let mut map = map;
        for i in (0..map.len()).step_by(4096) {
            map[i] = 0;
        }
        return Some(map);
    }
    Some(map)
}

/// Buffers for `maps`, up to `cap` bytes in all (the largest mappings are left out past it).
pub fn prepare(maps: &[Mapping], cap: u64) -> Buffers {
    let mut order: Vec<Mapping> = maps.to_vec();
    order.sort_by_key(|m| m.end - m.start);
    let mut budget = cap;
    let mut out = Vec::new();
    for m in order {
        let len = m.end - m.start;
        if len > budget {
            continue;
        }
        budget -= len;
        if let Some(b) = buffer(len) {
            out.push((m, b));
        }
    }
    Buffers { maps: out }
}

/// Copy `maps` (the mappings as they are now, with the target paused) into `buffers`,
/// allocating for mappings that appeared since [`prepare`] if the cap allows. Returns the
/// regions and the bytes copied.
pub fn fill(pid: i32, maps: &[Mapping], mut buffers: Buffers, cap: u64) -> (Vec<Region>, u64) {
    let pid = Pid::from_raw(pid);
    let mut used: u64 = 0;
    let mut regions = Vec::new();
    let mut copied = 0;
    for &m in maps {
        let len = m.end - m.start;
        let ready = buffers
            .maps
            .iter()
            .position(|(p, _)| p.start == m.start && p.end == m.end)
            .map(|i| buffers.maps.swap_remove(i).1);
        let buf = match ready {
            Some(b) => b,
            None if used + len <= cap => match buffer(len) {
                Some(b) => b,
                None => continue,
            },
            None => continue,
        };
        used += len;
        let mut buf = buf;
        copied += copy_mapping(pid, m, &mut buf[..]);
        regions.push(Region {
            start: m.start,
            data: RegionData::Map(buf),
        });
    }
    (regions, copied)
}
