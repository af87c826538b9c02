//! The process's own figures for `/metrics`: resident memory and start time, read from `/proc`
//! on Linux.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// Resident set size in bytes; `None` where `/proc` is not there to ask.
pub(crate) fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let resident_pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(resident_pages * page_size()?)
}

/// When the process started, in seconds since the Unix epoch. The kernel's figure when it is
/// readable, since the runtime may have spent a while loading before anyone asked; otherwise the
/// first time this is called.
pub(crate) fn start_time_seconds() -> f64 {
    static START: OnceLock<f64> = OnceLock::new();
    *START.get_or_init(|| kernel_start_time().unwrap_or_else(now_seconds))
}

fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Boot time (`btime` in `/proc/stat`) plus the process's `starttime` (field 22 of
/// `/proc/self/stat`, in clock ticks since boot).
fn kernel_start_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may itself hold spaces or parentheses,
    // so fields are counted from the last `)`: the field after it is field 3.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let start_ticks: u64 = after_name.split_whitespace().nth(22 - 3)?.parse().ok()?;
    let boot = std::fs::read_to_string("/proc/stat").ok()?;
    let boot_secs: u64 = boot
        .lines()
        .find_map(|line| line.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    Some(boot_secs as f64 + start_ticks as f64 / clock_ticks_per_second()? as f64)
}

#[cfg(unix)]
// A marked unsafe site: sysconf reads a constant.
#[allow(unsafe_code)]
fn page_size() -> Option<u64> {
    // SAFETY: sysconf only reads a configuration value; it has no memory-safety preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).ok().filter(|&s| s > 0)
}

#[cfg(unix)]
// A marked unsafe site: sysconf reads a constant.
#[allow(unsafe_code)]
fn clock_ticks_per_second() -> Option<u64> {
    // SAFETY: as above.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|&t| t > 0)
}

#[cfg(not(unix))]
fn page_size() -> Option<u64> {
    None
}

#[cfg(not(unix))]
fn clock_ticks_per_second() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_memory_and_start_time_on_linux() {
        let rss = resident_memory_bytes().expect("statm is readable");
        assert!(rss > 1024 * 1024, "{rss}");
        let started = kernel_start_time().expect("stat is readable");
        let now = now_seconds();
        assert!(
            started <= now + 1.0 && started > now - 3600.0,
            "{started} vs {now}"
        );
    }
}
