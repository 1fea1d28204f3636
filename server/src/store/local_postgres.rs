//! A private Postgres server run from Debian's binaries: the demo's database when none is
//! configured, and the fresh database of every integration test.
//!
//! `initdb` refuses to run as root, so when Berth runs as root the server runs as the
//! `postgres` system user that Debian's package creates, and its data directory belongs to it.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, Uid, User};

/// The superuser `initdb` creates; local servers trust loopback connections only.
pub const SUPERUSER: &str = "postgres";
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum LocalPostgresError {
    #[error(
        "PostgreSQL server binaries not found (looked for {looked}); install them with \
         `apt-get install postgresql` or set BERTH_PG_BINDIR"
    )]
    BinariesMissing { looked: String },
    #[error(
        "running as root, but there is no `postgres` system user to run Postgres as; install \
         Debian's `postgresql` package, which creates it"
    )]
    NoPostgresUser,
    #[error(
        "the postgres user cannot reach {0}: make every parent directory traversable \
         (chmod o+x) or choose another state directory"
    )]
    Unreachable(PathBuf),
    #[error("cannot prepare {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("initdb failed for {data_dir}: {detail}")]
    Initdb { data_dir: PathBuf, detail: String },
    #[error(
        "Postgres is already running on {data_dir} (pid {pid}); stop it (kill {pid}) or use \
         another state directory"
    )]
    AlreadyRunning { data_dir: PathBuf, pid: u32 },
    #[error("Postgres did not start: {detail} (log: {log})")]
    Start { detail: String, log: PathBuf },
    #[error("no free loopback port: {0}")]
    NoPort(std::io::Error),
}

/// Whether the server may trade durability for speed (tests) or not (demo).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    Durable,
    Fast,
}

/// The user the server processes run as.
#[derive(Clone, Debug)]
struct RunAs {
    uid: u32,
    gid: u32,
}

#[derive(Clone, Debug)]
pub struct PgBinaries {
    bindir: PathBuf,
    run_as: Option<RunAs>,
    /// Servers started from here shut down (immediately) when the starting thread ends.
    end_with_parent: bool,
}

impl PgBinaries {
    /// Finds `initdb` and `postgres`: `BERTH_PG_BINDIR`, `pg_config --bindir`, then the newest
    /// `/usr/lib/postgresql/*/bin`.
    pub fn locate() -> Result<PgBinaries, LocalPostgresError> {
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Ok(dir) = std::env::var("BERTH_PG_BINDIR") {
            candidates.push(PathBuf::from(dir));
        }
        if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
            && out.status.success()
        {
            candidates.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
        }
        let mut versioned: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
                Some((version, entry.path().join("bin")))
            })
            .collect();
        versioned.sort();
        candidates.extend(versioned.into_iter().rev().map(|(_, dir)| dir));

        let bindir = candidates
            .iter()
            .find(|dir| dir.join("initdb").is_file() && dir.join("postgres").is_file())
            .cloned()
            .ok_or_else(|| LocalPostgresError::BinariesMissing {
                looked: candidates
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;

        let run_as = if Uid::effective().is_root() {
            let user = User::from_name(SUPERUSER)
                .ok()
                .flatten()
                .ok_or(LocalPostgresError::NoPostgresUser)?;
            Some(RunAs {
                uid: user.uid.as_raw(),
                gid: user.gid.as_raw(),
            })
        } else {
            None
        };
        Ok(PgBinaries {
            bindir,
            run_as,
            end_with_parent: false,
        })
    }

    /// Servers started from here get SIGQUIT (immediate shutdown) when the thread that started
    /// them ends: for a test binary's shared server, which no destructor stops.
    pub fn ending_with_parent(mut self) -> PgBinaries {
        self.end_with_parent = true;
        self
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bindir.join(program));
        if let Some(run_as) = &self.run_as {
            cmd.uid(run_as.uid).gid(run_as.gid);
        }
        cmd
    }

    /// Creates `dir` (and its parents) so that the server's user owns it, mode 0700.
    pub fn prepare_data_dir(&self, dir: &Path) -> Result<(), LocalPostgresError> {
        let io = |source| LocalPostgresError::Io {
            path: dir.to_owned(),
            source,
        };
        fs::create_dir_all(dir).map_err(io)?;
        if let Some(run_as) = &self.run_as {
            chown(dir, Some(run_as.uid), Some(run_as.gid)).map_err(io)?;
            // The postgres user must be able to walk down to its data directory.
            for ancestor in dir.ancestors().skip(1) {
                if ancestor.as_os_str().is_empty() {
                    continue;
                }
                let mode = fs::metadata(ancestor).map_err(io)?.permissions().mode();
                if mode & 0o001 == 0 {
                    return Err(LocalPostgresError::Unreachable(ancestor.to_owned()));
                }
            }
        }
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io)?;
        Ok(())
    }

    /// Runs `initdb` unless `data_dir` already holds a cluster; returns whether it ran.
    pub fn init(
        &self,
        data_dir: &Path,
        durability: Durability,
    ) -> Result<bool, LocalPostgresError> {
        if data_dir.join("PG_VERSION").is_file() {
            return Ok(false);
        }
        self.prepare_data_dir(data_dir)?;
        let mut cmd = self.command("initdb");
        cmd.arg("--pgdata")
            .arg(data_dir)
            .args(["--username", SUPERUSER, "--auth", "trust"])
            .args(["--encoding", "UTF8", "--locale", "C.UTF-8"]);
        if durability == Durability::Fast {
            cmd.arg("--no-sync");
        }
        let out = cmd.output().map_err(|source| LocalPostgresError::Io {
            path: self.bindir.join("initdb"),
            source,
        })?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(LocalPostgresError::Initdb {
                data_dir: data_dir.to_owned(),
                detail: stderr.lines().last().unwrap_or("no output").to_owned(),
            });
        }
        Ok(true)
    }

    /// Starts a server on `data_dir` on a free loopback port and waits until it accepts
    /// connections. The server gets its own process group, so a Ctrl-C at the terminal reaches
    /// Berth alone, which then stops the database after the web server has drained.
    pub fn start(
        &self,
        data_dir: &Path,
        log_path: &Path,
        durability: Durability,
    ) -> Result<LocalPostgres, LocalPostgresError> {
        if let Some(pid) = running_postmaster(data_dir) {
            return Err(LocalPostgresError::AlreadyRunning {
                data_dir: data_dir.to_owned(),
                pid,
            });
        }
        let port = free_port()?;
        let log = File::create(log_path).map_err(|source| LocalPostgresError::Io {
            path: log_path.to_owned(),
            source,
        })?;
        let log_err = log.try_clone().map_err(|source| LocalPostgresError::Io {
            path: log_path.to_owned(),
            source,
        })?;
        let mut cmd = self.command("postgres");
        cmd.arg("-D")
            .arg(data_dir)
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", &format!("port={port}")])
            // TCP only: no socket files in directories the server user may not own.
            .args(["-c", "unix_socket_directories="])
            .args(["-c", "max_connections=60"]);
        if durability == Durability::Fast {
            cmd.args(["-c", "fsync=off"])
                .args(["-c", "synchronous_commit=off"])
                .args(["-c", "full_page_writes=off"])
                .args(["-c", "shared_buffers=16MB"]);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .process_group(0);
        if self.end_with_parent {
            sandbox::control_plane::end_with_parent(&mut cmd, nix::sys::signal::Signal::SIGQUIT);
        }
        let child = cmd.spawn().map_err(|source| LocalPostgresError::Io {
            path: self.bindir.join("postgres"),
            source,
        })?;
        let mut server = LocalPostgres {
            child: Some(child),
            port,
            data_dir: data_dir.to_owned(),
            log_path: log_path.to_owned(),
            bindir: self.bindir.clone(),
        };
        server.wait_ready()?;
        Ok(server)
    }
}

/// A running server; stopped (fast shutdown) by [`LocalPostgres::stop`] or on drop.
#[derive(Debug)]
pub struct LocalPostgres {
    child: Option<Child>,
    port: u16,
    data_dir: PathBuf,
    log_path: PathBuf,
    bindir: PathBuf,
}

impl LocalPostgres {
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// A URL for `database` as the superuser.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    fn wait_ready(&mut self) -> Result<(), LocalPostgresError> {
        let started = Instant::now();
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(self.start_error(format!("the server exited ({status})")));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
                && self.accepts_connections()
            {
                return Ok(());
            }
            if started.elapsed() > START_TIMEOUT {
                self.terminate();
                return Err(self.start_error(format!(
                    "not accepting connections after {} s",
                    START_TIMEOUT.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `pg_isready` tells "starting up" from "accepting", which a TCP connect cannot.
    fn accepts_connections(&self) -> bool {
        Command::new(self.bindir.join("pg_isready"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
            .args(["-U", SUPERUSER])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    fn start_error(&self, detail: String) -> LocalPostgresError {
        let tail = log_tail(&self.log_path);
        let detail = if tail.is_empty() {
            detail
        } else {
            format!("{detail}; last log line: {tail}")
        };
        LocalPostgresError::Start {
            detail,
            log: self.log_path.clone(),
        }
    }

    /// Fast shutdown: open transactions roll back, the data stays consistent.
    pub fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let Ok(raw) = i32::try_from(child.id()) else {
            return;
        };
        let pid = Pid::from_raw(raw);
        if kill(pid, Signal::SIGINT).is_err() {
            let _ = child.wait();
            return;
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Immediate shutdown; the next start recovers from the WAL.
        let _ = kill(pid, Signal::SIGQUIT);
        let _ = child.wait();
    }
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Stops a server left running on `data_dir` by a process that died without stopping it (a
/// `kill -9` of `berth demo`): fast shutdown, then immediate if it lingers. True if there was
/// one. The caller must know the server is an orphan; one in use is stopped all the same.
pub fn stop_orphan(data_dir: &Path) -> bool {
    let Some(pid) = running_postmaster(data_dir) else {
        return false;
    };
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    let pid = Pid::from_raw(raw);
    let _ = kill(pid, Signal::SIGINT);
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        if kill(pid, None).is_err() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = kill(pid, Signal::SIGQUIT);
    while kill(pid, None).is_ok() && Instant::now() < deadline + STOP_TIMEOUT {
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// The pid in `postmaster.pid` if that process still exists (a stale file is ignored, as
/// Postgres itself does).
fn running_postmaster(data_dir: &Path) -> Option<u32> {
    let text = fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
    let pid: i32 = text.lines().next()?.trim().parse().ok()?;
    let alive = kill(Pid::from_raw(pid), None).is_ok();
    alive.then_some(pid.unsigned_abs())
}

/// Asks the kernel for a free loopback port. Another process could take it before Postgres
/// binds; start-up then fails with a clear error rather than hanging.
pub fn free_port() -> Result<u16, LocalPostgresError> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(LocalPostgresError::NoPort)?;
    let port = listener
        .local_addr()
        .map_err(LocalPostgresError::NoPort)?
        .port();
    Ok(port)
}

fn log_tail(path: &Path) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(4096)));
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .to_owned()
}
