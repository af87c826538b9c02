//! The processes clara starts — command tools, hook commands, MCP servers — each lead a
//! process group of their own, held by a [`ProcessGroup`] that kills the whole group when it
//! is dropped. A watchdog process, forked before clara starts any thread, kills the groups
//! still open when clara dies, however it dies: `kill -9` included, since the pipe it reads
//! from clara closes with clara. So nothing clara started outlives it.

// A marked unsafe site, the whole module: process groups, fork and signals are system calls.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicI32, Ordering};

/// The write end of the pipe to the watchdog, or -1 when there is none (a library user, a
/// command that starts no processes).
static WATCHDOG: AtomicI32 = AtomicI32::new(-1);

/// A running child's process group. Dropping it kills the group.
#[derive(Debug)]
pub struct ProcessGroup(Option<i32>);

impl ProcessGroup {
    /// Takes charge of the group a child started with `process_group(0)` leads (its id is
    /// the child's pid), and tells the watchdog about it.
    pub fn of(pid: Option<u32>) -> ProcessGroup {
        let pgid = pid.and_then(|p| i32::try_from(p).ok()).filter(|p| *p > 0);
        if let Some(pgid) = pgid {
            tell_watchdog(b'+', pgid);
        }
        ProcessGroup(pgid)
    }

    /// Kills everything in the group now (a group that is gone already is fine). The group's
    /// id stays taken while any member lives, and pids are handed out in sequence, so the id
    /// is not someone else's.
    pub fn kill(&self) {
        #[cfg(unix)]
        if let Some(pgid) = self.0 {
            // SAFETY: killpg only sends a signal; a group that is gone yields ESRCH.
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
        if let Some(pgid) = self.0 {
            tell_watchdog(b'-', pgid);
        }
    }
}

/// Sends `+PGID` or `-PGID` to the watchdog. One short write to a pipe is atomic, so threads
/// need no lock.
fn tell_watchdog(sign: u8, pgid: i32) {
    let fd = WATCHDOG.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    let line = format!("{}{pgid}\n", sign as char);
    // SAFETY: writes a few bytes from a live buffer to our own pipe.
    unsafe {
        libc::write(fd, line.as_ptr().cast(), line.len());
    }
}

/// Forks the watchdog. Call it first thing in `main`, while the process has one thread: the
/// child then runs ordinary code safely. Without it (any failure is logged to stderr) clara
/// still stops its children on every orderly path.
#[cfg(unix)]
pub fn start_watchdog() {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 fills the two descriptors. CLOEXEC keeps the write end out of every
    // program clara starts: one holding it would keep the watchdog from ever seeing EOF.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        eprintln!("warning: no watchdog for child processes (pipe failed)");
        return;
    }
    let [read, write] = fds;
    // SAFETY: the process is single-threaded here (see above).
    match unsafe { libc::fork() } {
        -1 => {
            eprintln!("warning: no watchdog for child processes (fork failed)");
            // SAFETY: closing our own descriptors.
            unsafe {
                libc::close(read);
                libc::close(write);
            }
        }
        0 => {
            // SAFETY: closing our own descriptor; the parent keeps its copy.
            unsafe { libc::close(write) };
            watch(read)
        }
        _ => {
            // SAFETY: the child keeps its copy of the read end.
            unsafe { libc::close(read) };
            WATCHDOG.store(write, Ordering::Relaxed);
        }
    }
}

#[cfg(not(unix))]
pub fn start_watchdog() {}

/// The watchdog: reads `+PGID` / `-PGID` lines until clara's end of the pipe closes, then
/// kills every group still open and exits. It holds nothing of clara's (standard streams go
/// to /dev/null, so a reader of clara's output sees its end) and ignores the signals meant
/// for clara, so a Ctrl-C reaches clara and the watchdog still cleans up after it.
#[cfg(unix)]
fn watch(read: i32) -> ! {
    // SAFETY: plain syscalls on our own descriptors and signal dispositions.
    unsafe {
        for signal in [
            libc::SIGINT,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGQUIT,
            libc::SIGPIPE,
        ] {
            libc::signal(signal, libc::SIG_IGN);
        }
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        for fd in 0..3 {
            libc::dup2(null, fd);
        }
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        let highest = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur.min(65_536) as i32
        } else {
            1_024
        };
        for fd in 3..highest {
            if fd != read {
                libc::close(fd);
            }
        }
        libc::prctl(libc::PR_SET_NAME, c"clara-watchdog".as_ptr());
    }
    let mut open: std::collections::HashSet<i32> = std::collections::HashSet::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        // SAFETY: reads into a live buffer of the given size.
        let n = unsafe { libc::read(read, buffer.as_mut_ptr().cast(), buffer.len()) };
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if n <= 0 {
            break;
        }
        pending.extend_from_slice(&buffer[..n as usize]);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let Some((&sign, number)) = line[..line.len() - 1].split_first() else {
                continue;
            };
            let Some(pgid) = std::str::from_utf8(number)
                .ok()
                .and_then(|n| n.parse::<i32>().ok())
            else {
                continue;
            };
            match sign {
                b'+' => {
                    open.insert(pgid);
                }
                b'-' => {
                    open.remove(&pgid);
                }
                _ => {}
            }
        }
    }
    for pgid in open {
        // SAFETY: only sends a signal.
        unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        }
    }
    // SAFETY: ends this process without running the parent's exit handlers.
    unsafe { libc::_exit(0) }
}
