//! Third-party caches and web servers as rovd's upstreams: Routinator on a
//! SLURM file (RTR and HTTP), RTRTR on a JSON file (its `rtr` and `http`
//! targets), StayRTR on a JSON file, and nginx serving a file over HTTPS.
//! Each runs in a private directory on 127.0.0.1, is stopped by pid when
//! dropped, and prints its log if the test failed. Also here: the SLURM
//! file a test writes for Routinator and the table it must yield, read
//! from the SLURM text alone, and a bare HTTP GET to see when a server is
//! ready.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use super::clients::Service;
use super::data::{base64, unbase64, Data};
use super::rtr::{reset_query, Answer, RouterKey, RtrClient, Synced, Table, Vrp};
use super::{free_port, is_root, on_path, LogBuf, WAIT};

/// `name` from the environment variable `var` or PATH; skipped (and, under
/// CI, failed) with `install` as the hint if it is neither.
pub(crate) fn tool(name: &str, var: &str, install: &str) -> Option<PathBuf> {
    let found = std::env::var_os(var)
        .map(PathBuf::from)
        .or_else(|| on_path(name));
    if found.is_none() {
        super::skip(&format!("{name} not installed ({install})"));
    }
    found
}

/// Write `bytes` to `path` the way a publisher does (aside, then rename),
/// with an mtime strictly later than the old file's, so that a reader that
/// polls by mtime cannot miss the change.
pub(crate) fn replace(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes).unwrap();
    let now = SystemTime::now();
    let mtime = match fs::metadata(path).and_then(|m| m.modified()) {
        Ok(old) if old + Duration::from_secs(1) > now => old + Duration::from_secs(1),
        _ => now,
    };
    fs::File::options()
        .write(true)
        .open(&tmp)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    fs::rename(&tmp, path).unwrap();
}

/// Wait until `port` on 127.0.0.1 accepts connections; panics with `log`
/// after `WAIT`.
pub(crate) fn wait_for_port(port: u16, what: &str, log: &LogBuf) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not accept on {addr} within {WAIT:?}:\n{}",
            log.text()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

//------------ RTR and HTTP probes --------------------------------------------

/// One full sync at `version` from the RTR cache on `port`, or `None`
/// while it has no data (No Data Available, no answer, not listening) or
/// the answer was out of order (StayRTR may send Serial Notify inside
/// one).
pub(crate) fn rtr_sync(port: u16, version: u8) -> Option<Synced> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    std::panic::catch_unwind(|| {
        let mut c = RtrClient::connect(port);
        c.send(&reset_query(version));
        match c.read_answer(version) {
            Answer::Data {
                session,
                serial,
                timers,
                payload,
            } => Some(Synced {
                version,
                session,
                serial,
                timers,
                table: Table::from_full(&payload),
            }),
            _ => None,
        }
    })
    .ok()
    .flatten()
}

/// [`rtr_sync`]'s table.
pub(crate) fn rtr_table(port: u16, version: u8) -> Option<Table> {
    rtr_sync(port, version).map(|s| s.table)
}

/// Wait until the RTR cache on `port` serves exactly `want` at `version`;
/// panics with the difference, or that it never served data, after `WAIT`.
pub(crate) fn wait_for_rtr(port: u16, version: u8, want: &Table, what: &str, log: &LogBuf) {
    let deadline = Instant::now() + WAIT;
    loop {
        match rtr_table(port, version) {
            Some(t) if &t == want => return,
            Some(t) if Instant::now() > deadline => {
                eprintln!("{}", log.text());
                t.assert_eq(want, what);
            }
            None if Instant::now() > deadline => {
                panic!("{what}: never served data\n{}", log.text())
            }
            _ => thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// A plain HTTP/1.0 GET of `path` from 127.0.0.1:`port`: the status and
/// the body, or what went wrong.
pub(crate) fn http_get(port: u16, path: &str) -> Result<(u16, Vec<u8>), String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of the response head")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line: {head}"))?;
    Ok((status, raw[end + 4..].to_vec()))
}

/// Wait until GET `path` on `port` answers 200 (a cache answers 503
/// until it has data); panics with `log` after `WAIT`.
pub(crate) fn wait_for_http(port: u16, path: &str, what: &str, log: &LogBuf) {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = http_get(port, path);
        if matches!(got, Ok((200, _))) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: GET {path} not answered 200 within {WAIT:?} (last: {:?})\n{}",
            got.map(|(status, body)| (status, String::from_utf8_lossy(&body).into_owned())),
            log.text()
        );
        thread::sleep(Duration::from_millis(200));
    }
}

//------------ SLURM -----------------------------------------------------------

/// Base64 with the URL-safe alphabet and no padding, as RFC 8416 §3.4.2
/// wants the SKI and public key of a BGPsec assertion.
fn base64url(data: &[u8]) -> String {
    base64(data)
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
}

fn unbase64url(s: &str) -> Vec<u8> {
    unbase64(&s.replace('-', "+").replace('_', "/"))
}

/// An RFC 8416 SLURM file asserting `data`'s ROAs and router keys (ASPA
/// has no place in a version 1 file).
pub(crate) fn slurm(data: &Data) -> String {
    let prefixes: Vec<Value> = data
        .roas
        .iter()
        .map(|r| {
            json!({
                "asn": r.asn,
                "prefix": format!("{}/{}", r.addr, r.len),
                "maxPrefixLength": r.max_len,
            })
        })
        .collect();
    let keys: Vec<Value> = data
        .keys
        .iter()
        .map(|k| {
            json!({
                "asn": k.asn,
                "SKI": base64url(&k.ski),
                "routerPublicKey": base64url(&k.spki),
            })
        })
        .collect();
    let doc = json!({
        "slurmVersion": 1,
        "validationOutputFilters": {"prefixFilters": [], "bgpsecFilters": []},
        "locallyAddedAssertions": {"prefixAssertions": prefixes, "bgpsecAssertions": keys},
    });
    serde_json::to_string_pretty(&doc).unwrap()
}

/// The table a router at `version` should get from a cache whose only
/// input is the SLURM file `text`: its prefix assertions, and from
/// version 1 its BGPsec assertions (RFC 8416 §3.4).
pub(crate) fn slurm_table(text: &str, version: u8) -> Table {
    let doc: Value = serde_json::from_str(text).expect("test SLURM");
    let added = &doc["locallyAddedAssertions"];
    let num = |v: &Value, key: &str| -> u32 {
        v[key]
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or_else(|| panic!("{key} in {v}"))
    };
    let mut table = Table::default();
    for a in added["prefixAssertions"].as_array().unwrap() {
        let (addr, len) = a["prefix"].as_str().unwrap().split_once('/').unwrap();
        let len: u8 = len.parse().unwrap();
        let max_len = a
            .get("maxPrefixLength")
            .map_or(len, |m| u8::try_from(m.as_u64().unwrap()).unwrap());
        table.vrps.insert(Vrp {
            addr: addr.parse().unwrap(),
            len,
            max_len,
            asn: num(a, "asn"),
        });
    }
    if version >= 1 {
        for a in added["bgpsecAssertions"].as_array().unwrap() {
            table.keys.insert(RouterKey {
                ski: unbase64url(a["SKI"].as_str().unwrap())
                    .try_into()
                    .expect("20-octet SKI"),
                asn: num(a, "asn"),
                spki: unbase64url(a["routerPublicKey"].as_str().unwrap()),
            });
        }
    }
    table
}

//------------ Routinator -----------------------------------------------------

/// Routinator without trust anchors, rsync or RRDP: its only data is a
/// SLURM file, read again at every validation run (each second). Router
/// keys are enabled, without which its HTTP formats leave them out.
pub(crate) struct Routinator {
    pub service: Service,
    /// Its RTR server.
    pub rtr: u16,
    /// Its HTTP server (`/json` and the other formats).
    pub http: u16,
    slurm: PathBuf,
    _dir: tempfile::TempDir,
}

impl Routinator {
    pub(crate) fn start(bin: &Path, slurm_text: &str) -> Routinator {
        let dir = tempfile::tempdir().unwrap();
        let (tals, repo) = (dir.path().join("tals"), dir.path().join("repository"));
        fs::create_dir(&tals).unwrap();
        fs::create_dir(&repo).unwrap();
        let conf = dir.path().join("routinator.conf");
        fs::write(&conf, format!("repository-dir = \"{}\"\n", repo.display())).unwrap();
        let slurm = dir.path().join("local.slurm");
        fs::write(&slurm, slurm_text).unwrap();
        let (rtr, http) = (free_port(), free_port());
        let service = Service::spawn(
            "routinator",
            Command::new(bin)
                .arg("-c")
                .arg(&conf)
                .arg("--no-rir-tals")
                .arg("--extra-tals-dir")
                .arg(&tals)
                .arg("--disable-rsync")
                .arg("--disable-rrdp")
                .arg("--enable-bgpsec")
                .arg("-x")
                .arg(&slurm)
                .arg("server")
                .arg("--rtr")
                .arg(format!("127.0.0.1:{rtr}"))
                .arg("--http")
                .arg(format!("127.0.0.1:{http}"))
                .arg("--refresh")
                .arg("1"),
        );
        Routinator {
            service,
            rtr,
            http,
            slurm,
            _dir: dir,
        }
    }

    /// Replace the SLURM file; the next validation run takes it.
    pub(crate) fn set_slurm(&self, text: &str) {
        replace(&self.slurm, text.as_bytes());
    }
}

//------------ RTRTR ----------------------------------------------------------

/// RTRTR with a `json` unit reading a file (each second) and two targets
/// on it: `rtr` and `http` with the JSON format at `/json`.
pub(crate) struct RtrtrServer {
    pub service: Service,
    pub rtr: u16,
    pub http: u16,
    file: PathBuf,
    _dir: tempfile::TempDir,
}

impl RtrtrServer {
    pub(crate) fn start(bin: &Path, json: &str) -> RtrtrServer {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("payload.json");
        fs::write(&file, json).unwrap();
        let (rtr, http) = (free_port(), free_port());
        let conf = dir.path().join("rtrtr.conf");
        fs::write(
            &conf,
            format!(
                "log_level = \"debug\"\nlog_target = \"stderr\"\n\
                 http-listen = [\"127.0.0.1:{http}\"]\n\n\
                 [units.file]\ntype = \"json\"\nuri = \"file://{}\"\nrefresh = 1\n\n\
                 [targets.rtr]\ntype = \"rtr\"\nlisten = [\"127.0.0.1:{rtr}\"]\nunit = \"file\"\n\n\
                 [targets.json]\ntype = \"http\"\npath = \"/json\"\nformat = \"json\"\nunit = \"file\"\n",
                file.display()
            ),
        )
        .unwrap();
        RtrtrServer {
            service: Service::spawn("rtrtr", Command::new(bin).arg("-c").arg(&conf)),
            rtr,
            http,
            file,
            _dir: dir,
        }
    }

    /// Replace the JSON file; the unit reads it within a second.
    pub(crate) fn set_json(&self, json: &str) {
        replace(&self.file, json.as_bytes());
    }
}

//------------ StayRTR --------------------------------------------------------

/// StayRTR serving RTR up to version 1 from a file it reads each second.
pub(crate) struct StayRtr {
    pub service: Service,
    pub port: u16,
    file: PathBuf,
    _dir: tempfile::TempDir,
}

impl StayRtr {
    pub(crate) fn start(bin: &Path, json: &str) -> StayRtr {
        Self::start_on(bin, json, free_port())
    }

    /// As [`StayRtr::start`], on `port`: a restart where it was.
    pub(crate) fn start_on(bin: &Path, json: &str, port: u16) -> StayRtr {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rpki.json");
        fs::write(&file, json).unwrap();
        let service = Service::spawn(
            "stayrtr",
            Command::new(bin)
                .current_dir(dir.path())
                .arg(format!("-bind=127.0.0.1:{port}"))
                .arg(format!("-cache={}", file.display()))
                .arg("-checktime=false")
                .arg("-refresh=1")
                .arg(format!("-metrics.addr=127.0.0.1:{}", free_port()))
                .arg("-protocol=1"),
        );
        StayRtr {
            service,
            port,
            file,
            _dir: dir,
        }
    }

    /// Replace the JSON file; StayRTR reads it within a second.
    pub(crate) fn set_json(&self, json: &str) {
        replace(&self.file, json.as_bytes());
    }
}

//------------ nginx ----------------------------------------------------------

/// nginx serving one directory over HTTPS on 127.0.0.1 with entity tags
/// and gzip for JSON, its access log in a format the test reads: status,
/// gzip ratio, the `If-None-Match` the client sent, the `ETag` answered,
/// and the request line, separated by `|`.
pub(crate) struct Nginx {
    pub service: Service,
    pub port: u16,
    pub www: PathBuf,
    access_log: PathBuf,
    dir: tempfile::TempDir,
}

/// One line of the access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Access {
    pub status: u16,
    /// How much gzip shrank the body (`-` if it was not compressed).
    pub gzip_ratio: String,
    pub if_none_match: String,
    pub etag: String,
    pub request: String,
}

impl Nginx {
    pub(crate) fn start(bin: &Path, cert_pem: &str, key_pem: &str) -> Nginx {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let www = d.join("www");
        fs::create_dir(&www).unwrap();
        fs::create_dir(d.join("temp")).unwrap();
        fs::write(d.join("server.pem"), cert_pem).unwrap();
        fs::write(d.join("server.key"), key_pem).unwrap();
        fs::set_permissions(d.join("server.key"), fs::Permissions::from_mode(0o600)).unwrap();
        let port = free_port();
        let access_log = d.join("access.log");
        // As root nginx wants a user for its workers; the test's own
        // files are readable to root. As anyone else it runs as them.
        let user = if is_root() { "user root;\n" } else { "" };
        let temp = |what: &str| format!("{what}_temp_path {}/temp/{what};\n", d.display());
        let conf = format!(
            "{user}worker_processes 1;\n\
             pid {dir}/nginx.pid;\n\
             error_log {dir}/error.log info;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n\
             log_format peers escape=none '$status|$gzip_ratio|$http_if_none_match|$sent_http_etag|$request';\n\
             {body}{proxy}{fastcgi}{uwsgi}{scgi}\
             types {{ application/json json; }}\n\
             server {{\n\
             listen 127.0.0.1:{port} ssl;\n\
             server_name localhost;\n\
             ssl_certificate {dir}/server.pem;\n\
             ssl_certificate_key {dir}/server.key;\n\
             root {www};\n\
             etag on;\n\
             gzip on;\n\
             gzip_types application/json;\n\
             access_log {access} peers;\n\
             }}\n\
             }}\n",
            dir = d.display(),
            access = access_log.display(),
            www = www.display(),
            body = temp("client_body"),
            proxy = temp("proxy"),
            fastcgi = temp("fastcgi"),
            uwsgi = temp("uwsgi"),
            scgi = temp("scgi"),
        );
        let conf_path = d.join("nginx.conf");
        fs::write(&conf_path, conf).unwrap();
        let service = Service::spawn(
            "nginx",
            Command::new(bin)
                .arg("-p")
                .arg(d)
                .arg("-e")
                .arg(d.join("error.log"))
                .arg("-c")
                .arg(&conf_path)
                .arg("-g")
                .arg("daemon off;"),
        );
        wait_for_port(port, "nginx", &service.log);
        Nginx {
            service,
            port,
            www,
            access_log,
            dir,
        }
    }

    /// The requests logged so far.
    pub(crate) fn accesses(&self) -> Vec<Access> {
        fs::read_to_string(&self.access_log)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.splitn(5, '|').collect();
                assert_eq!(f.len(), 5, "access log line: {l}");
                Access {
                    status: f[0].parse().unwrap_or_else(|_| panic!("status in {l}")),
                    gzip_ratio: f[1].to_string(),
                    if_none_match: f[2].to_string(),
                    etag: f[3].to_string(),
                    request: f[4].to_string(),
                }
            })
            .collect()
    }

    /// Wait until the access log holds more than `n` requests; them all.
    pub(crate) fn wait_for_accesses(&self, n: usize) -> Vec<Access> {
        let deadline = Instant::now() + WAIT;
        loop {
            let got = self.accesses();
            if got.len() > n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "nginx logged no request beyond the {n} before within {WAIT:?}: {got:?}\n{}",
                fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}
