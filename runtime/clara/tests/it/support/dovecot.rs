//! A real IMAP server for the email tests: Dovecot (Debian's `dovecot-imapd`, which `.ci/run`
//! installs) started in the foreground on 127.0.0.1 with a throwaway mail folder and users
//! with plain passwords, stopped when dropped. Mail arrives through IMAP APPEND, as a mail
//! client would file it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running Dovecot.
pub struct Dovecot {
    child: Child,
    dir: tempfile::TempDir,
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
}

/// The system user mail is kept as when the tests run as root (Dovecot runs no mail process
/// as root).
const MAIL_USER: &str = "clara-mail";

impl Dovecot {
    /// Starts Dovecot with these `(user, password)` accounts, each with an empty INBOX.
    pub fn start(users: &[(&str, &str)]) -> Dovecot {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let root = dir.path();
        for sub in ["run", "state", "home"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        let passwords: String = users
            .iter()
            .map(|(user, password)| format!("{user}:{{PLAIN}}{password}\n"))
            .collect();
        std::fs::write(root.join("users"), passwords).unwrap();
        let (uid, gid, extra) = mail_owner();
        chown(&root.join("home"), uid, gid);
        let port = super::free_port();
        let home = root.join("home");
        let config = format!(
            "base_dir = {run}\nstate_dir = {state}\nlog_path = {log}\n\
             protocols = imap\nlisten = 127.0.0.1\nssl = no\n\
             disable_plaintext_auth = no\nauth_mechanisms = plain login\n\
             mail_location = maildir:~/Maildir\nfirst_valid_uid = {uid}\n{extra}\
             service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {users}\n}}\n\
             userdb {{\n  driver = static\n  args = uid={uid} gid={gid} home={home}/%u\n}}\n",
            run = root.join("run").display(),
            state = root.join("state").display(),
            log = root.join("dovecot.log").display(),
            users = root.join("users").display(),
            home = home.display(),
        );
        std::fs::write(root.join("dovecot.conf"), config).unwrap();
        let mut command = Command::new(dovecot_binary());
        // Its own process group, so `kill` reaches the imap processes it forks too.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command
            .arg("-F")
            .arg("-c")
            .arg(root.join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("dovecot starts (apt-get install dovecot-imapd)");
        let dovecot = Dovecot { child, dir, port };
        dovecot.wait_listening();
        dovecot
    }

    /// Files `raw` (lines ending in `\n`) in `user`'s INBOX over IMAP APPEND, as a mail client
    /// would.
    pub async fn deliver(&self, user: &str, password: &str, raw: &str) {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("dovecot listens");
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await.expect("a greeting");
        let mut session = client
            .login(user, password)
            .await
            .map_err(|(e, _)| e)
            .expect("the test user logs in");
        session
            .append("INBOX", None, None, raw.replace('\n', "\r\n"))
            .await
            .expect("the message is filed");
        session.logout().await.expect("a clean logout");
    }

    /// Stops the server and every process it started at once, as a crash would: open
    /// sessions lose their connection.
    pub fn kill(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Dovecot's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    fn wait_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("dovecot did not listen on {}: {}", self.port, self.log());
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.kill();
    }
}

fn dovecot_binary() -> PathBuf {
    ["/usr/sbin/dovecot", "/usr/local/sbin/dovecot"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("dovecot"))
}

/// The uid and gid mail is kept as, and the settings that go with running as that user.
fn mail_owner() -> (u32, u32, String) {
    let id = |args: &[&str]| -> u32 {
        let out = Command::new("id").args(args).output().expect("id runs");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("a number")
    };
    if id(&["-u"]) != 0 {
        let name = String::from_utf8_lossy(&Command::new("id").arg("-un").output().unwrap().stdout)
            .trim()
            .to_owned();
        let extra = format!("default_internal_user = {name}\ndefault_login_user = {name}\n");
        return (id(&["-u"]), id(&["-g"]), extra);
    }
    let exists = Command::new("id")
        .arg(MAIL_USER)
        .output()
        .unwrap()
        .status
        .success();
    if !exists {
        let _ = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                MAIL_USER,
            ])
            .status();
    }
    (
        id(&["-u", MAIL_USER]),
        id(&["-g", MAIL_USER]),
        String::new(),
    )
}

fn chown(path: &std::path::Path, uid: u32, gid: u32) {
    let status = Command::new("chown")
        .arg(format!("{uid}:{gid}"))
        .arg(path)
        .status()
        .expect("chown runs");
    assert!(status.success());
}
