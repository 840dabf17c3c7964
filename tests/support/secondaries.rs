//! Real secondaries for data-plane tests: BIND 9 (`named`), started on free loopback ports in a temp
//! dir, consuming a pool's catalog zone from our mdns.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use nsplane::devmode::free_port;

pub struct Bind {
    pub port: u16,
    pub dir: PathBuf,
    child: Child,
}

impl Bind {
    /// A BIND secondary of everything in `catalog` (served by mdns at `mdns_port`).
    pub fn start(mdns_port: u16, catalog: &str) -> Bind {
        let dir = std::env::temp_dir().join(format!("nsplane-bind-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("bind dir");
        let port = free_port().expect("port");
        let conf = format!(
            r#"options {{
  directory "{dir}";
  listen-on port {port} {{ 127.0.0.1; }};
  listen-on-v6 {{ none; }};
  pid-file "{dir}/named.pid";
  allow-new-zones yes;
  recursion no;
  dnssec-validation no;
  notify no;
  serial-query-rate 1000;
  allow-query {{ any; }};
  allow-notify {{ any; }};
  catalog-zones {{
    zone "{catalog}" default-primaries {{ 127.0.0.1 port {mdns_port}; }} in-memory yes;
  }};
}};
logging {{
  channel everything {{ file "{dir}/named.log"; severity info; print-time yes; print-category yes; }};
  category default {{ everything; }};
  category xfer-in {{ everything; }};
  category notify {{ everything; }};
}};
controls {{ }};
zone "{catalog}" {{ type secondary; primaries {{ 127.0.0.1 port {mdns_port}; }}; file "catalog.db"; }};
"#,
            dir = dir.display()
        );
        std::fs::write(dir.join("named.conf"), conf).expect("named.conf");
        let child = Self::spawn(&dir, port);
        Bind { port, dir, child }
    }

    fn spawn(dir: &std::path::Path, port: u16) -> Child {
        // -f: foreground, logging as configured (-g would send everything to stderr).
        let child = Command::new("named")
            .args(["-f", "-c"])
            .arg(dir.join("named.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("stderr.log")).expect("stderr log"))
            .spawn()
            .expect("named (apt-get install bind9)");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "named did not start: {}",
                std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        child
    }

    /// Kills the server (its data stays).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again with the same configuration, port and data.
    pub fn restart(&mut self) {
        self.stop();
        self.child = Self::spawn(&self.dir, self.port);
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("named.log")).unwrap_or_default()
    }
}

impl Drop for Bind {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
