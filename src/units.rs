//! How figures are written for people: sizes in binary units, counts with separators,
//! durations in the largest sensible unit.

/// A size given in KiB, in the largest unit that keeps it readable: `812 KiB`, `48.2 MiB`,
/// `1.25 GiB`. Signed sizes get an explicit `+`/`-` with [`signed_kib`].
pub fn kib(v: f64) -> String {
    let a = v.abs();
    if a < 1024.0 {
        format!("{v:.0} KiB")
    } else if a < 1024.0 * 1024.0 {
        format!("{:.1} MiB", v / 1024.0)
    } else {
        format!("{:.2} GiB", v / (1024.0 * 1024.0))
    }
}

pub fn signed_kib(v: f64) -> String {
    if v > 0.0 {
        format!("+{}", kib(v))
    } else {
        kib(v)
    }
}

/// A size in bytes, as [`kib`] does.
pub fn bytes(v: f64) -> String {
    if v.abs() < 1024.0 {
        format!("{v:.0} B")
    } else {
        kib(v / 1024.0)
    }
}

/// KiB as MiB with one decimal, memory_profiler's unit: `180.2 MiB`.
pub fn mib(kib: f64) -> String {
    format!("{:.1} MiB", kib / 1024.0)
}

/// `48210` → `48,210`.
pub fn count(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `59.2 s`, `12m 05s`, `3h 02m`.
pub fn duration(secs: f64) -> String {
    if secs < 60.0 {
        format!("{secs:.1} s")
    } else if secs < 3600.0 {
        format!("{}m {:02}s", (secs / 60.0) as u64, (secs % 60.0) as u64)
    } else {
        format!(
            "{}h {:02}m",
            (secs / 3600.0) as u64,
            ((secs % 3600.0) / 60.0) as u64
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(kib(812.0), "812 KiB");
        assert_eq!(kib(48.2 * 1024.0), "48.2 MiB");
        assert_eq!(signed_kib(2048.0), "+2.0 MiB");
        assert_eq!(signed_kib(-2048.0), "-2.0 MiB");
        assert_eq!(mib(184_525.0), "180.2 MiB");
        assert_eq!(count(48_210), "48,210");
        assert_eq!(count(12), "12");
        assert_eq!(count(1_000_000), "1,000,000");
        assert_eq!(duration(59.25), "59.2 s");
        assert_eq!(duration(725.0), "12m 05s");
        assert_eq!(bytes(100.0), "100 B");
    }
}
