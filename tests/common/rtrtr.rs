//! RTRTR (NLnet Labs, crates.io `rtrtr`) as an RTR client of the built
//! `rovd`: a unit that syncs from rovd — plain `rtr` or `rtr-tls` — and an
//! `rtr` target of its own, through which this suite's independent client
//! reads back what RTRTR received. Run by the test in a private directory;
//! stopped on drop, its log printed if the test failed.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use super::clients::Service;
use super::rtr::{Answer, RtrClient, Table};
use super::{free_port, WAIT};

pub(crate) struct Rtrtr {
    _service: Service,
    /// RTRTR's own `rtr` target.
    port: u16,
    _dir: tempfile::TempDir,
}

impl Rtrtr {
    /// RTRTR with an `rtr` unit on rovd's plain port.
    pub(crate) fn plain(bin: &Path, rovd_port: u16) -> Rtrtr {
        let dir = tempfile::tempdir().unwrap();
        let unit = format!("type = \"rtr\"\nremote = \"127.0.0.1:{rovd_port}\"\n");
        Self::start(bin, dir, &unit)
    }

    /// RTRTR with an `rtr-tls` unit on rovd's TLS port, trusting `ca_pem`.
    pub(crate) fn tls(bin: &Path, tls_port: u16, ca_pem: &str) -> Rtrtr {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        fs::write(&ca, ca_pem).unwrap();
        let unit = format!(
            "type = \"rtr-tls\"\nremote = \"127.0.0.1:{tls_port}\"\n\
             cacerts = [\"{}\"]\nretry = 1\n",
            ca.display()
        );
        Self::start(bin, dir, &unit)
    }

    fn start(bin: &Path, dir: tempfile::TempDir, unit: &str) -> Rtrtr {
        let (port, http) = (free_port(), free_port());
        let conf = dir.path().join("rtrtr.conf");
        fs::write(
            &conf,
            format!(
                "log_level = \"debug\"\nlog_target = \"stderr\"\n\
                 http-listen = [\"127.0.0.1:{http}\"]\n\n\
                 [units.rovd]\n{unit}\n\
                 [targets.rtr]\ntype = \"rtr\"\nlisten = [\"127.0.0.1:{port}\"]\nunit = \"rovd\"\n"
            ),
        )
        .unwrap();
        Rtrtr {
            _service: Service::spawn("rtrtr", Command::new(bin).arg("-c").arg(&conf)),
            port,
            _dir: dir,
        }
    }

    /// One full sync at `version` from RTRTR's target: its data, or `None`
    /// if it has none (it answers No Data Available, or does not answer).
    pub(crate) fn table(&self, version: u8) -> Option<Table> {
        std::panic::catch_unwind(|| {
            let mut c = RtrClient::connect(self.port);
            c.send(&super::rtr::reset_query(version));
            match c.read_answer(version) {
                Answer::Data { payload, .. } => Some(Table::from_full(&payload)),
                _ => None,
            }
        })
        .ok()
        .flatten()
    }

    /// Wait until RTRTR serves exactly `want` at `version`; panics with the
    /// difference, or that it never served data, after `WAIT`.
    pub(crate) fn wait_for(&self, version: u8, want: &Table, what: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.table(version) {
                Some(t) if &t == want => return,
                Some(t) if Instant::now() > deadline => t.assert_eq(want, what),
                None if Instant::now() > deadline => panic!("{what}: RTRTR never served data"),
                _ => thread::sleep(Duration::from_millis(200)),
            }
        }
    }
}
