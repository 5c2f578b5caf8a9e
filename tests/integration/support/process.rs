//! `ward` as a process: the binary cargo built, started through `sh -c` (for a
//! `ulimit`, a `setpriv`), its log collected line by line.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A `ward` process (the binary cargo built), its stderr collected line by line.
pub struct WardProcess {
    pub child: std::process::Child,
    lines: Arc<std::sync::Mutex<Vec<String>>>,
}

impl WardProcess {
    /// Runs `ward <args>` in `dir` through `sh -c`, after `shell_prefix` (e.g.
    /// `ulimit -n 256;`).
    pub fn spawn(dir: &Path, shell_prefix: &str, args: &[&str]) -> WardProcess {
        Self::spawn_wrapped(dir, shell_prefix, "", args)
    }

    /// Like [`spawn`](Self::spawn), with ward started by `wrapper` (e.g. a `setpriv …`
    /// to run it as another user).
    pub fn spawn_wrapped(
        dir: &Path,
        shell_prefix: &str,
        wrapper: &str,
        args: &[&str],
    ) -> WardProcess {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};
        let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
        let script = format!(
            "{shell_prefix} exec {wrapper} '{}' {}",
            env!("CARGO_BIN_EXE_ward"),
            quoted.join(" ")
        );
        let mut child = Command::new("sh")
            .args(["-c", &script])
            .current_dir(dir)
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .expect("ward runs");
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        WardProcess { child, lines }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits until a log line contains `text`; that line.
    #[track_caller]
    pub fn wait_for(&self, text: &str, limit: Duration) -> String {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Some(line) = self.lines.lock().unwrap().iter().find(|l| l.contains(text)) {
                return line.clone();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("ward never logged {text:?}; it logged:\n{}", self.log());
    }

    /// The address it serves on (from its log).
    #[track_caller]
    pub fn addr(&self) -> SocketAddr {
        let line = self.wait_for("serving on UDP and TCP", Duration::from_secs(60));
        let at = line.find("addr=").expect("the address is logged");
        line[at + 5..].trim().parse().expect("an address")
    }

    /// Sends `signal` (a name such as `HUP`).
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Its exit status, waiting at most `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// A value from `/proc/<pid>/status`, in kB (`VmRSS`, `VmHWM`, …).
    pub fn status_kb(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// Open descriptors.
    pub fn open_descriptors(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// User plus system CPU time so far, in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = after_name.split(' ').collect();
        // Fields 14 and 15 of stat(5), counted from the state (field 3).
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }
}

impl Drop for WardProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
