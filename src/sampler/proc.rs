//! What the kernel says about the target: RSS (fast clock), open fds and smaps_rollup (slow
//! clock). Reads only; `statm` stays open so a fast-clock read is one `pread`.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use crate::event::MemRollup;

/// `/proc/PID/statm`, kept open.
pub struct Statm {
    file: File,
    page_kib: u64,
}

/// The process is gone (or a zombie): no more readings will come.
#[derive(Debug)]
pub struct Gone;

impl Statm {
    pub fn open(pid: i32) -> io::Result<Statm> {
        let file = File::open(format!("/proc/{pid}/statm"))?;
        Ok(Statm {
            file,
            page_kib: page_size() / 1024,
        })
    }

    /// Resident set size in KiB. A zombie reads as all zeros, which also means gone.
    pub fn rss_kib(&self) -> Result<u64, Gone> {
        let mut buf = [0u8; 128];
        let n = self.file.read_at(&mut buf, 0).map_err(|_| Gone)?;
        let text = std::str::from_utf8(&buf[..n]).map_err(|_| Gone)?;
        let mut fields = text.split_ascii_whitespace();
        let size: u64 = fields.next().and_then(|f| f.parse().ok()).ok_or(Gone)?;
        let resident: u64 = fields.next().and_then(|f| f.parse().ok()).ok_or(Gone)?;
        if size == 0 {
            return Err(Gone);
        }
        Ok(resident * self.page_kib)
    }
}

/// `/proc/PID/task/TID/stat` of one thread, kept open: whether it runs, in one `pread`.
pub struct TaskStat {
    file: File,
    pub tid: u64,
}

impl TaskStat {
    pub fn open(pid: i32, tid: u64) -> io::Result<TaskStat> {
        Ok(TaskStat {
            file: File::open(format!("/proc/{pid}/task/{tid}/stat"))?,
            tid,
        })
    }

    /// Running or runnable (`R`), as py-spy decides a thread is active; None: unreadable.
    pub fn running(&self) -> Option<bool> {
        let mut buf = [0u8; 512];
        let n = self.file.read_at(&mut buf, 0).ok()?;
        // the command name is in parentheses and may hold ") ": the state follows the last
        let close = buf[..n].iter().rposition(|&b| b == b')')?;
        buf.get(close + 2).map(|&state| state == b'R')
    }
}

pub fn page_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map(|p| p as u64)
        .unwrap_or(4096)
}

/// Number of open file descriptors.
pub fn fd_count(pid: i32) -> Option<u32> {
    let p = procfs::process::Process::new(pid).ok()?;
    p.fd_count().ok().map(|n| n.min(u32::MAX as usize) as u32)
}

/// A path with its numbers generalised, so that `/tmp/job-17.log` and `/tmp/job-18.log`
/// group together as `/tmp/job-N.log`.
fn pattern(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_digits = false;
    for c in path.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('N');
            }
            in_digits = true;
        } else {
            in_digits = false;
            out.push(c);
        }
    }
    out
}

/// What the target's open fds point at, grouped by kind and path pattern (at most `limit`
/// fds looked at).
pub fn fd_groups(pid: i32, limit: usize) -> Option<Vec<crate::event::FdGroup>> {
    use procfs::process::FDTarget;
    let p = procfs::process::Process::new(pid).ok()?;
    let mut groups: std::collections::BTreeMap<(String, String), u32> = Default::default();
    for fd in p.fd().ok()?.take(limit).flatten() {
        let (kind, pat) = match fd.target {
            FDTarget::Path(path) => ("file", pattern(&path.to_string_lossy())),
            FDTarget::Socket(_) => ("socket", String::new()),
            FDTarget::Net(_) => ("socket", String::new()),
            FDTarget::Pipe(_) => ("pipe", String::new()),
            FDTarget::AnonInode(s) => ("anon", s),
            FDTarget::MemFD(s) => ("memfd", pattern(&s)),
            FDTarget::Other(s, _) => ("other", s),
            FDTarget::Unknown(s, _) => ("other", s),
        };
        *groups.entry((kind.to_string(), pat)).or_default() += 1;
    }
    Some(
        groups
            .into_iter()
            .map(|((kind, pattern), count)| crate::event::FdGroup {
                kind,
                pattern,
                count,
            })
            .collect(),
    )
}

/// USS/PSS/RSS/swap, and RSS by kind of mapping, from `/proc/PID/smaps`. This takes the
/// target's mmap lock for a while (milliseconds at hundreds of MB), so it belongs on the slow
/// clock only. At most [`MAX_MAPPINGS`] mappings are summed (a process with more is summed
/// in part, and its RSS taken from the rest as "anonymous").
pub fn rollup(pid: i32) -> Option<MemRollup> {
    use procfs::process::MMapPath;
    let p = procfs::process::Process::new(pid).ok()?;
    let maps = p.smaps().ok()?;
    let mut r = MemRollup::default();
    for m in maps.0.iter().take(MAX_MAPPINGS) {
        let get = |k: &str| m.extension.map.get(k).copied().unwrap_or(0) / 1024;
        let rss = get("Rss");
        r.rss_kib += rss;
        r.pss_kib += get("Pss");
        r.uss_kib += get("Private_Clean") + get("Private_Dirty");
        r.swap_kib += get("Swap");
        match &m.pathname {
            MMapPath::Heap => r.heap_kib += rss,
            MMapPath::Stack => r.stack_kib += rss,
            MMapPath::Path(_) => r.file_kib += rss,
            _ => r.anon_kib += rss,
        }
    }
    Some(r)
}

/// Mappings summed by [`rollup`].
const MAX_MAPPINGS: usize = 1 << 16;

/// The parent PID of `pid` (from `/proc/PID/stat`), if it is there.
pub fn ppid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_ppid(&stat)
}

/// The ppid field of a `/proc/PID/stat` line: the comm (field 2) may hold spaces and
/// parentheses, so fields are counted from its last `)`.
pub fn parse_ppid(stat: &str) -> Option<i32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_memory_figures() {
        let me = std::process::id() as i32;
        let statm = Statm::open(me).unwrap();
        let rss = statm.rss_kib().unwrap();
        assert!(rss > 100, "rss {rss} KiB");
        assert!(fd_count(me).unwrap() >= 3);
        let g = fd_groups(me, 1000).unwrap();
        assert!(g.iter().map(|g| g.count).sum::<u32>() >= 3);
        assert_eq!(pattern("/tmp/job-17.log"), "/tmp/job-N.log");
        let r = rollup(me).unwrap();
        assert!(r.rss_kib > 100 && r.uss_kib > 0 && r.pss_kib > 0, "{r:?}");
    }
}
