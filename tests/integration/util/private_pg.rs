//! A PostgreSQL cluster of a test's own, in a temporary folder, for what
//! must never happen to the shared server: stopping and restarting it.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct PrivatePg {
    pub url: String,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

/// `initdb`/`pg_ctl`: on PATH or in the distribution's folder.
fn tool(name: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join(name)).collect::<Vec<_>>())
        .unwrap_or_default();
    let versions = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| dirs.flatten().map(|d| d.path().join("bin").join(name)).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path.into_iter().chain(versions).find(|p| p.is_file())
}

/// PostgreSQL refuses to run as root: as root, the cluster belongs to the
/// `postgres` user.
fn as_owner(program: &Path) -> Command {
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn run(mut cmd: Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

impl PrivatePg {
    /// A started cluster, or why there cannot be one here (the caller skips).
    pub fn start() -> Result<PrivatePg, String> {
        let (initdb, _) = (tool("initdb").ok_or("no initdb")?, tool("pg_ctl").ok_or("no pg_ctl")?);
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        if unsafe { libc::geteuid() } == 0 {
            run({
                let mut c = Command::new("chown");
                c.arg("postgres").arg(dir.path());
                c
            })?;
        }
        let data = dir.path().join("data");
        run({
            let mut c = as_owner(&initdb);
            c.args(["-U", "postgres", "--auth=trust", "--no-sync", "-D"]).arg(&data);
            c
        })?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let pg = PrivatePg {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            data,
            port,
            _dir: dir,
        };
        pg.up()?;
        Ok(pg)
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<(), String> {
        let mut c = as_owner(&tool("pg_ctl").ok_or("no pg_ctl")?);
        c.arg("-D").arg(&self.data).args(args);
        run(c)
    }

    /// Starts the server and waits until it accepts connections.
    pub fn up(&self) -> Result<(), String> {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off",
            self.port,
            self.data.display()
        );
        self.pg_ctl(&[
            "-w",
            "-t",
            "60",
            "-l",
            &format!("{}/log", self.data.display()),
            "-o",
            &options,
            "start",
        ])
    }

    /// Stops the server the way a restart or a failover does: every session ends.
    pub fn down(&self) -> Result<(), String> {
        self.pg_ctl(&["-w", "-m", "fast", "stop"])
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["-m", "immediate", "stop"]);
    }
}
