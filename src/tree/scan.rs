//! Finding a process tree: every descendant of the roots, from `/proc` alone (as py-spy's
//! `--subprocesses` does), bounded however many processes the machine runs.

use std::collections::{HashMap, HashSet};

/// Most `/proc` entries read in one scan.
const MAX_PIDS_SCANNED: usize = 1 << 17;

/// One process of the tree: its PID and parent PID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub pid: i32,
    pub ppid: i32,
}

/// The roots (those still alive) and all their descendants, roots first, then breadth first
/// by parent; at most `limit` processes.
pub fn tree(roots: &[i32], limit: usize) -> Vec<Member> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    let mut parent: HashMap<i32, i32> = HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.take(MAX_PIDS_SCANNED).flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            if let Some(ppid) = crate::sampler::proc::ppid(pid) {
                children.entry(ppid).or_default().push(pid);
                parent.insert(pid, ppid);
            }
        }
    }
    descendants(roots, &parent, &children, limit)
}

/// The tree below `roots` in a parent → children map (pure, for the tests).
pub fn descendants(
    roots: &[i32],
    parent: &HashMap<i32, i32>,
    children: &HashMap<i32, Vec<i32>>,
    limit: usize,
) -> Vec<Member> {
    let mut seen: HashSet<i32> = HashSet::new();
    let mut out: Vec<Member> = Vec::new();
    let mut queue: std::collections::VecDeque<i32> = std::collections::VecDeque::new();
    for &r in roots {
        if parent.contains_key(&r) && seen.insert(r) {
            out.push(Member {
                pid: r,
                ppid: parent[&r],
            });
            queue.push_back(r);
        }
    }
    while let Some(p) = queue.pop_front() {
        let mut kids = children.get(&p).cloned().unwrap_or_default();
        kids.sort_unstable();
        for k in kids {
            if out.len() >= limit {
                return out;
            }
            // a PID loop cannot happen in /proc, but a scan races with exits and PID reuse
            if seen.insert(k) {
                out.push(Member { pid: k, ppid: p });
                queue.push_back(k);
            }
        }
    }
    out
}

/// Seconds since `pid` started (from `/proc/PID/stat` field 22 and `/proc/uptime`).
pub fn age_secs(pid: i32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    // fields after the comm start at field 3 (state); starttime is field 22
    let start_ticks: f64 = rest.split_whitespace().nth(19)?.parse().ok()?;
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    Some((uptime - start_ticks / hz).max(0.0))
}

/// What tells one program image of `pid` from the next (`exec` replaces it under the same
/// PID): the executable and the first mapping (its address moves with ASLR).
pub fn image(pid: i32) -> Option<String> {
    use std::io::Read;
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let mut first = [0u8; 128];
    let n = std::fs::File::open(format!("/proc/{pid}/maps"))
        .ok()?
        .read(&mut first)
        .ok()?;
    let line = String::from_utf8_lossy(&first[..n]);
    let line = line.lines().next().unwrap_or("");
    let range = line.split_whitespace().next().unwrap_or("");
    Some(format!("{} {range}", exe.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_descendants_breadth_first_and_bounded() {
        // 1 → 10 → {11, 12 → 13}; 20 is not below the root
        let links = [(10, 1), (11, 10), (12, 10), (13, 12), (20, 1)];
        let mut parent = HashMap::new();
        let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
        for (c, p) in links {
            parent.insert(c, p);
            children.entry(p).or_default().push(c);
        }
        let pids = |v: Vec<Member>| v.into_iter().map(|m| m.pid).collect::<Vec<_>>();
        assert_eq!(
            pids(descendants(&[10], &parent, &children, 99)),
            [10, 11, 12, 13]
        );
        assert_eq!(pids(descendants(&[10], &parent, &children, 2)), [10, 11]);
        // a root given twice, and a root that is gone
        assert_eq!(
            pids(descendants(&[12, 12, 77], &parent, &children, 99)),
            [12, 13]
        );
        // a cycle (PID reuse seen mid-scan) ends
        children.entry(13).or_default().push(10);
        assert_eq!(
            pids(descendants(&[10], &parent, &children, 99)),
            [10, 11, 12, 13]
        );
    }

    #[test]
    fn this_process_is_in_its_own_tree() {
        let me = std::process::id() as i32;
        let t = tree(&[me], 10);
        assert_eq!(t.first().map(|m| m.pid), Some(me));
        assert!(age_secs(me).is_some_and(|a| a < 3600.0 * 24.0));
        assert!(image(me).is_some());
    }
}
