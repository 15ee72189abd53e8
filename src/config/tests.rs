//! Unit tests of the configuration model and of reading it, run by
//! `cargo test`; the code under test runs in the parent.

use super::*;

#[test]
fn defaults() {
    let c = Config::parse(Path::new("/etc/rovd.conf"), "").unwrap();
    assert_eq!(c.rtr, Rtr::default());
    assert_eq!(
        c.rtr
            .listen
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["[::]:323", "0.0.0.0:323"]
    );
    assert!(c.sources.is_empty());
    assert_eq!(c.user, "_rovd");
    assert_eq!(c.chroot, Path::new("/var/empty"));
    assert_eq!(c.seccomp, SeccompAction::Kill);
}

#[test]
fn sandbox_keys() {
    let c = Config::parse(
        Path::new("/etc/rovd.conf"),
        "user = \"rovd\"\nchroot = \"/var/lib/rovd/empty\"\nseccomp = \"log\"\n",
    )
    .unwrap();
    assert_eq!(c.user, "rovd");
    assert_eq!(c.chroot, Path::new("/var/lib/rovd/empty"));
    assert_eq!(c.seccomp, SeccompAction::Log);
    let e = Config::parse(Path::new("x.conf"), "\nseccomp = \"trap\"\n").unwrap_err();
    assert_eq!(e.line, Some(2), "{e}");
    let e = Config::parse(Path::new("x.conf"), "user = \"root\"\n").unwrap_err();
    assert_eq!(e.line, Some(1), "{e}");
    let e = Config::parse(Path::new("x.conf"), "chroot = \"empty\"\n").unwrap_err();
    assert_eq!(e.line, Some(1), "{e}");
}

#[test]
fn what_needs_a_restart() {
    let p = Path::new("/etc/rovd.conf");
    let a = Config::parse(p, "[rtr]\nrefresh = 100\n").unwrap();
    assert_eq!(
        a.restart_required(&Config::parse(p, "[rtr]\nrefresh = 200\n").unwrap()),
        None
    );
    let b = Config::parse(p, "[rtr]\nlisten = [\"127.0.0.1:323\"]\n").unwrap();
    assert_eq!(a.restart_required(&b), Some("listen"));
    let c = Config::parse(p, "user = \"x\"\n").unwrap();
    assert_eq!(a.restart_required(&c), Some("user"));
}

#[test]
fn tls_table() {
    let p = Path::new("/etc/rovd/rovd.conf");
    assert_eq!(Config::parse(p, "").unwrap().tls, None);
    let c = Config::parse(
        p,
        "[tls]\ncertificate = \"cert.pem\"\nkey = \"/etc/ssl/key.pem\"\n",
    )
    .unwrap();
    let tls = c.tls.as_ref().unwrap();
    assert_eq!(
        tls.listen
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["[::]:324", "0.0.0.0:324"]
    );
    assert_eq!(tls.certificate, Path::new("/etc/rovd/cert.pem"));
    assert_eq!(tls.key, Path::new("/etc/ssl/key.pem"));
    assert_eq!(tls.client_ca, None);
    assert_eq!(c.tls_listen_addrs().len(), 2);
    assert_eq!(
        c.tls_dirs(),
        [Path::new("/etc/rovd"), Path::new("/etc/ssl")]
    );
    let e = Config::parse(p, "[tls]\ncertificate = \"c\"\n").unwrap_err();
    assert!(e.to_string().contains("key"), "{e}");
    let e = Config::parse(
        p,
        "[tls]\ncertificate = \"c\"\nkey = \"k\"\nlisten = [\"x:1\"]\n",
    )
    .unwrap_err();
    assert_eq!(e.line, Some(4), "{e}");
    let with_ca = Config::parse(
        p,
        "[tls]\ncertificate = \"c\"\nkey = \"k\"\nclient-ca = \"ca.pem\"\n",
    )
    .unwrap();
    assert_eq!(
        with_ca.tls.unwrap().client_ca.as_deref(),
        Some(Path::new("/etc/rovd/ca.pem"))
    );
}

#[test]
fn tls_listen_needs_a_restart() {
    let p = Path::new("/etc/rovd.conf");
    let tls = "[tls]\ncertificate = \"c\"\nkey = \"k\"\n";
    let a = Config::parse(p, "").unwrap();
    let b = Config::parse(p, tls).unwrap();
    assert_eq!(a.restart_required(&b), Some("tls listen"));
    let c = Config::parse(p, &format!("{tls}listen = [\"127.0.0.1:324\"]\n")).unwrap();
    assert_eq!(b.restart_required(&c), Some("tls listen"));
    let d = Config::parse(p, "[tls]\ncertificate = \"c2\"\nkey = \"k2\"\n").unwrap();
    assert_eq!(b.restart_required(&d), None);
}

#[test]
fn source_dirs_are_unique() {
    let c = Config::parse(
        Path::new("/etc/rovd/rovd.conf"),
        "[[source]]\npath = \"a.json\"\n[[source]]\npath = \"b.json\"\n\
         [[source]]\npath = \"/var/db/x.json\"\n",
    )
    .unwrap();
    assert_eq!(
        c.source_dirs(|_| false),
        [Path::new("/etc/rovd"), Path::new("/var/db")]
    );
}

#[test]
fn relative_source_paths_follow_the_file() {
    let c = Config::parse(
        Path::new("/etc/rovd/rovd.conf"),
        "[[source]]\npath = \"vrps.json\"\n[[source]]\npath = \"/var/db/x.json\"\n",
    )
    .unwrap();
    assert_eq!(c.sources[0].file(), Some(Path::new("/etc/rovd/vrps.json")));
    assert_eq!(c.sources[1].file(), Some(Path::new("/var/db/x.json")));
}

#[test]
fn errors_name_the_line() {
    let e = Config::parse(Path::new("x.conf"), "[rtr]\nrefresh = 10\nbogus = 1\n").unwrap_err();
    assert_eq!(e.line, Some(3), "{e}");
    assert!(e.to_string().contains("bogus"), "{e}");
    let e = Config::parse(Path::new("x.conf"), "[rtr]\n\nexpire = 100\n").unwrap_err();
    assert_eq!(e.line, Some(3), "{e}");
    let e = Config::parse(Path::new("x.conf"), "[rtr]\nlisten = [\"nope\"]\n").unwrap_err();
    assert_eq!(e.line, Some(2), "{e}");
    let e = Config::parse(Path::new("x.conf"), "[rtr]\nmax-version = 3\n").unwrap_err();
    assert_eq!(e.line, Some(2), "{e}");
}

const MD5: &str = "[[tcp-md5]]\npeer = \"192.0.2.1\"\nkey = \"one\"\n\
                   [[tcp-md5]]\npeer = \"2001:db8::/32\"\nkey = \"two\"\n";
const AO: &str = "[[tcp-ao]]\npeer = \"198.51.100.0/24\"\nkey = \"three\"\n\
                  send-id = 1\nrecv-id = 2\nalgorithm = \"hmac-sha1\"\n\
                  [[tcp-ao]]\npeer = \"198.51.100.0/24\"\nkey = \"four\"\n\
                  send-id = 3\nrecv-id = 4\nalgorithm = \"cmac-aes128\"\n";

/// A configuration with the keys of key file `text`, as `Config::load`
/// makes it.
fn with_keys(text: &str) -> Config {
    let keys = Keys::parse(Path::new("keys"), text).unwrap();
    Config {
        tcp_md5: keys.tcp_md5,
        tcp_ao: keys.tcp_ao,
        ..Config::parse(Path::new("x.conf"), "").unwrap()
    }
}

#[test]
fn tcp_keys() {
    let c = with_keys(&format!("{MD5}{AO}"));
    assert_eq!(c.tcp_md5.len(), 2);
    assert_eq!(c.tcp_md5[0].peer.to_string(), "192.0.2.1");
    assert_eq!(c.tcp_md5[0].peer.len, 32);
    assert_eq!(c.tcp_md5[0].key.octets(), b"one");
    assert_eq!(c.tcp_md5[1].peer.to_string(), "2001:db8::/32");
    assert_eq!(c.tcp_ao[1].send_id, 3);
    assert_eq!(c.tcp_ao[1].recv_id, 4);
    assert_eq!(c.tcp_ao[1].algorithm, AoAlgorithm::CmacAes128);
    assert!(c.has_keys());
    let bare = c.without_keys();
    assert!(!bare.has_keys());
    assert_eq!(bare.rtr, c.rtr);
    // Keys stay out of anything that prints the configuration.
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("\"one\"") && !shown.contains("three"),
        "{shown}"
    );
    // They travel to nobody: the model encodes without them.
    let round: Config = bincode::deserialize(&bincode::serialize(&c).unwrap()).unwrap();
    assert_eq!(round, bare);
    let round: Keys = bincode::deserialize(
        &bincode::serialize(&Keys {
            tcp_md5: c.tcp_md5.clone(),
            tcp_ao: c.tcp_ao.clone(),
        })
        .unwrap(),
    )
    .unwrap();
    assert_eq!((round.tcp_md5, round.tcp_ao), (c.tcp_md5, c.tcp_ao));
}

#[test]
fn tcp_key_errors() {
    let bad = |text: &str, line: usize, what: &str| {
        let e = Keys::parse(Path::new("keys"), text).unwrap_err();
        assert_eq!(e.line, Some(line), "{e}");
        assert!(e.to_string().contains(what), "{e}");
    };
    let md5 = |peer: &str, key: &str| format!("[[tcp-md5]]\npeer = \"{peer}\"\nkey = \"{key}\"\n");
    bad(&md5("router1", "k"), 2, "not an address");
    bad(&md5("10.0.0.1/24", "k"), 2, "host bits");
    bad(&md5("10.0.0.0/33", "k"), 2, "0 to 32");
    bad(&md5("2001:db8::/129", "k"), 2, "0 to 128");
    bad(&md5("10.0.0.1", ""), 2, "0 octets");
    bad(
        &md5("10.0.0.1", &"k".repeat(81)),
        2,
        "81 octets; it must be 1 to 80",
    );
    Keys::parse(Path::new("keys"), &md5("10.0.0.1", &"k".repeat(80))).unwrap();
    // Two keys for one peer; nested prefixes are fine.
    bad(
        &format!("{}{}", md5("10.0.0.1", "a"), md5("10.0.0.1/32", "b")),
        5,
        "second key",
    );
    Keys::parse(
        Path::new("keys"),
        &format!("{}{}", md5("10.0.0.0/8", "a"), md5("10.1.0.0/16", "b")),
    )
    .unwrap();
    // TCP-AO KeyIDs per peer and direction.
    let ao = |peer: &str, send: u8, recv: u8| {
        format!(
            "[[tcp-ao]]\npeer = \"{peer}\"\nkey = \"k\"\nsend-id = {send}\n\
             recv-id = {recv}\nalgorithm = \"hmac-sha256\"\n"
        )
    };
    bad(
        &format!("{}{}", ao("10.0.0.1", 1, 2), ao("10.0.0.1", 1, 3)),
        8,
        "send-id 1",
    );
    bad(
        &format!("{}{}", ao("10.0.0.1", 1, 2), ao("10.0.0.1", 3, 2)),
        8,
        "recv-id 2",
    );
    Keys::parse(
        Path::new("keys"),
        &format!("{}{}", ao("10.0.0.1", 1, 2), ao("10.0.0.2", 1, 2)),
    )
    .unwrap();
    bad(&ao("10.0.0.1", 1, 2).replace("= 2", "= 256"), 5, "");
    bad(
        &ao("10.0.0.1", 1, 2).replace("hmac-sha256", "md5"),
        6,
        "md5",
    );
    // A peer given both, directly or through a prefix.
    bad(
        &format!("{}{}", md5("10.0.0.0/8", "a"), ao("10.2.3.4", 1, 2)),
        5,
        "one or the other",
    );
    bad(
        &format!("{}{}", ao("10.0.0.0/8", 1, 2), md5("10.2.3.4", "a")),
        2,
        "10.2.3.4",
    );
    Keys::parse(
        Path::new("keys"),
        &format!("{}{}", md5("10.0.0.0/8", "a"), ao("11.0.0.1", 1, 2)),
    )
    .unwrap();
    bad(
        "[[tcp-md5]]\npeer = \"10.0.0.1\"\nkey = \"k\"\nsend-id = 1\n",
        4,
        "send-id",
    );
}

#[test]
fn prefixes_contain_and_overlap() {
    let p = |s: &str| Peer::try_from(s.to_string()).unwrap();
    assert!(p("10.0.0.0/8").contains("10.255.0.1".parse().unwrap()));
    assert!(!p("10.0.0.0/8").contains("11.0.0.1".parse().unwrap()));
    assert!(p("0.0.0.0/0").contains("192.0.2.1".parse().unwrap()));
    assert!(!p("0.0.0.0/0").contains("::1".parse().unwrap()));
    assert!(p("::/0").contains("2001:db8::1".parse().unwrap()));
    assert!(p("2001:db8::/32").overlaps(&p("2001:db8:1::1")));
    assert!(!p("2001:db8::/32").overlaps(&p("2001:db9::/32")));
    assert!(p("192.0.2.1").overlaps(&p("192.0.2.1")));
}

#[test]
fn key_changes_need_a_restart() {
    let p = Path::new("/etc/rovd.conf");
    let a = Config::parse(p, "key-file = \"/etc/rovd.keys\"\n").unwrap();
    let b = Config::parse(p, "key-file = \"/etc/rovd/keys\"\n").unwrap();
    assert_eq!(a.restart_required(&b), Some("key-file"));
    let none = Config::parse(p, "").unwrap();
    assert_eq!(a.restart_required(&none), Some("key-file"));
    assert_eq!(a.restart_required(&a.clone()), None);
}

#[test]
fn keys_in_the_configuration_are_refused_at_their_line() {
    for (text, line) in [(MD5, 2), (AO, 2)] {
        let text = format!("[rtr]\nretry = 60\n{text}");
        let e = Config::parse(Path::new("x.conf"), &text).unwrap_err();
        assert_eq!(e.line, Some(line + 2), "{e}");
        assert!(e.reason.contains("key file (key-file)"), "{e}");
    }
}

#[test]
fn the_key_file_must_be_private_and_the_reload_keeps_its_keys() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("rovd.conf");
    let keys = dir.path().join("rovd.keys");
    std::fs::write(&conf, "key-file = \"rovd.keys\"\n").unwrap();
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&keys, MD5).unwrap();
    for (mode, ok) in [
        (0o600, true),
        (0o400, true),
        (0o640, false),
        (0o644, false),
        (0o604, false),
        (0o660, false),
    ] {
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(mode)).unwrap();
        match Config::load(&conf) {
            Ok(c) => {
                assert!(ok, "mode {mode:o} accepted");
                assert_eq!(c.tcp_md5.len(), 2);
            }
            Err(e) => {
                assert!(!ok, "mode {mode:o}: {e}");
                let e = e.to_string();
                assert!(e.starts_with(&keys.display().to_string()), "{e}");
                assert!(e.contains("chmod 600"), "{e}");
            }
        }
    }
    // A reload, which cannot read the key file, keeps the keys it has.
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600)).unwrap();
    let running = Config::load(&conf).unwrap();
    std::fs::remove_file(&keys).unwrap();
    let again = Config::load_again(&conf, &running).unwrap();
    assert_eq!(again.tcp_md5, running.tcp_md5);
    // A key file that is no file.
    std::fs::create_dir(&keys).unwrap();
    let e = Config::load(&conf).unwrap_err();
    assert!(e.reason.contains("not a regular file"), "{e}");
}

#[test]
fn a_parsed_configuration_crosses_ipc() {
    use bincode::Options;
    let text = "user = \"rovd\"\nseccomp = \"log\"\nkey-file = \"keys\"\n\
         [rtr]\nlisten = [\"[2001:db8::1]:8323\", \"192.0.2.1:323\"]\nrefresh = 900\n\
         [tls]\ncertificate = \"c\"\nkey = \"k\"\nclient-ca = \"ca\"\n\
         listen = [\"[::1]:8324\"]\n\
         [[source]]\npath = \"a.json\"\nformat = \"rpki-client\"\nstale = \"stop\"\n\
         [[slurm]]\npath = \"local\"\n";
    let keys = Keys::parse(Path::new("keys"), &format!("{MD5}{AO}")).unwrap();
    let c = Config {
        tcp_md5: keys.tcp_md5,
        tcp_ao: keys.tcp_ao,
        ..Config::parse(Path::new("/etc/rovd/rovd.conf"), text).unwrap()
    };
    assert_eq!(c.listen_addrs()[0], "[2001:db8::1]:8323".parse().unwrap());
    assert_eq!(c.tls_listen_addrs(), ["[::1]:8324".parse().unwrap()]);
    // As privsep frames encode: bincode with its default options.
    let codec = bincode::DefaultOptions::new;
    for sent in [c.without_keys(), c.clone()] {
        let bytes = codec().serialize(&sent).unwrap();
        let got: Config = codec().deserialize(&bytes).unwrap();
        assert_eq!(got, c.without_keys());
    }
}

#[test]
fn a_bad_listen_address_is_named_at_its_line() {
    let p = Path::new("x.conf");
    // The same text earlier in a comment does not count.
    let e = Config::parse(
        p,
        "# not \"rtr.example:324\" any more\n\
         [tls]\ncertificate = \"c\"\nkey = \"k\"\n\
         listen = [\n    \"127.0.0.1:324\",\n    \"rtr.example:324\",\n]\n",
    )
    .unwrap_err();
    assert_eq!(e.line, Some(7), "{e}");
    assert!(
        e.to_string()
            .ends_with("listen: \"rtr.example:324\" is not ADDRESS:PORT"),
        "{e}"
    );
    let e = Config::parse(p, "[rtr]\nlisten = [\"192.0.2.1:323\", 323]\n").unwrap_err();
    assert_eq!(e.line, Some(2), "{e}");
    assert!(e.to_string().contains("ADDRESS:PORT"), "{e}");
}

#[test]
fn errors_name_the_key_not_the_first_line_with_its_name() {
    let bad = |text: &str, line: usize, what: &str| {
        let e = Config::parse(Path::new("x.conf"), text).unwrap_err();
        assert_eq!(e.line, Some(line), "{e}");
        assert!(e.to_string().contains(what), "{e}");
    };
    // The name earlier in a comment, or in another key's value.
    bad(
        "# rovd.conf\n\
         # set expire = 900 later\n\
         user = \"rovd\"\n\
         [rtr]\n\
         refresh = 300\n\
         retry = 60\n\
         history = 20\n\
         max-sessions = 100\n\
         expire = 100\n",
        9,
        "expire must be 600 to 172800 seconds",
    );
    bad(
        "# the user every process runs as\nuser = \"root\"\n",
        2,
        "unprivileged user",
    );
    bad(
        "[[source]]\npath = \"/var/db/retry.json\"\n[rtr]\nretry = 0\n",
        4,
        "retry must be 1 to 7200 seconds",
    );
    // The key of the second of two tables.
    bad(
        "[[source]]\npath = \"a.json\"\nmax-drop = 50\n\
         [[source]]\npath = \"b.json\"\nmax-drop = 101\n",
        6,
        "max-drop must be 0 to 100",
    );
    bad(
        "[[source]]\npath = \"a.json\"\n[[source]]\npath = \"/\"\n",
        4,
        "source path / does not name a file",
    );
    // A dotted key.
    bad(
        "user = \"rovd\"\nrtr.history = 0\n",
        2,
        "history must be 1 to 1000",
    );
    // With expire at its default, the timer that reaches it.
    bad(
        "[rtr]\nretry = 600\nrefresh = 7200\n",
        3,
        "expire must be larger than refresh and retry",
    );
    bad(
        "[rtr]\nrefresh = 600\nretry = 7200\n",
        3,
        "expire must be larger than refresh and retry",
    );
    bad(
        "[rtr]\nexpire = 900\nrefresh = 900\n",
        2,
        "expire must be larger than refresh and retry",
    );
}

#[test]
fn tcp_key_errors_name_the_table_at_fault() {
    let bad = |text: &str, line: usize, what: &str| {
        let e = Keys::parse(Path::new("keys"), text).unwrap_err();
        assert_eq!(e.line, Some(line), "{e}");
        assert!(e.to_string().contains(what), "{e}");
    };
    // Two tables for one peer, whose address a comment repeats.
    bad(
        "[[tcp-md5]]\npeer = \"10.0.0.1\"\nkey = \"a\"\n\
         [[tcp-md5]]\npeer = \"10.0.0.1\"\nkey = \"b\"\n\
         # peer 10.0.0.1 moves to TCP-AO in May\n",
        5,
        "a second key for peer 10.0.0.1",
    );
    // A key too long, and a later table whose peer starts the same.
    bad(
        "[[tcp-md5]]\npeer = \"10.0.0.0/8\"\nkey = \"a\"\n\
         [[tcp-md5]]\npeer = \"10.0.0.0/16\"\nkey = \"\"\n\
         [[tcp-md5]]\npeer = \"10.0.0.0/24\"\nkey = \"c\"\n",
        5,
        "tcp-md5 key for 10.0.0.0/16 is 0 octets",
    );
    // A TCP-AO peer inside a TCP-MD5 prefix: the TCP-AO table, even
    // where the TCP-MD5 table comes later.
    bad(
        "[[tcp-ao]]\npeer = \"10.2.3.0/24\"\nkey = \"k\"\nsend-id = 1\n\
         recv-id = 2\nalgorithm = \"hmac-sha1\"\n\
         [[tcp-md5]]\npeer = \"10.2.3.0/28\"\nkey = \"a\"\n",
        2,
        "one or the other",
    );
}

#[test]
fn format_names() {
    #[derive(serde::Deserialize)]
    struct Conf {
        format: Format,
    }
    for (text, want) in [
        ("auto", Format::Auto),
        ("rpki-client", Format::RpkiClient),
        ("stayrtr", Format::Stayrtr),
        ("routinator", Format::Routinator),
        ("rtrtr", Format::Rtrtr),
        ("csv", Format::Csv),
    ] {
        let c: Conf = toml::from_str(&format!("format = \"{text}\"")).unwrap();
        assert_eq!(c.format, want);
    }
    assert!(toml::from_str::<Conf>("format = \"rpki_client\"").is_err());
}

#[test]
fn sources_with_urls() {
    let c = Config::parse(
        Path::new("/etc/rovd/rovd.conf"),
        "[[source]]\n\
         url = \"rtr://192.0.2.1\"\n\
         min-expire = 900\n\
         [[source]]\n\
         url = [\"rtr+tls://cache-a.example.net:8324\", \"https://[2001:db8::1]/vrps.json?x=1\"]\n\
         ca-file = \"ca.pem\"\n\
         poll-interval = 60\n\
         [[source]]\n\
         url = \"http://192.0.2.2:8080/rpki.csv\"\n\
         format = \"csv\"\n",
    )
    .unwrap();
    let urls: Vec<String> = c.upstreams().map(ToString::to_string).collect();
    assert_eq!(
        urls,
        [
            "rtr://192.0.2.1",
            "rtr+tls://cache-a.example.net:8324",
            "https://[2001:db8::1]/vrps.json?x=1",
            "http://192.0.2.2:8080/rpki.csv"
        ]
    );
    let first = &c.sources[0].url[0];
    assert_eq!((first.scheme, first.port), (Scheme::Rtr, 323));
    let group = &c.sources[1].url;
    assert_eq!(group[1].host, "2001:db8::1");
    assert_eq!(group[1].port, 443);
    assert_eq!(group[1].path, "/vrps.json?x=1");
    assert_eq!(
        c.sources[1].ca_file.as_deref(),
        Some(Path::new("/etc/rovd/ca.pem"))
    );
    assert_eq!(
        c.sources[1].name(),
        "rtr+tls://cache-a.example.net:8324 (+1 in its group)"
    );
    assert!(c.has_upstreams());
    assert!(c.source_dirs(|_| false).is_empty(), "no directory for urls");
    assert_eq!(c.upstream_tls_files(), [PathBuf::from("/etc/rovd/ca.pem")]);
    // The upstream's timers, within the source's bounds; v0 has none.
    let t = c.sources[0].bounded(Some(crate::pdu::Timers {
        refresh: 10,
        retry: 5000,
        expire: 600,
    }));
    assert_eq!((t.refresh, t.retry, t.expire), (60, 600, 900));
    assert_eq!(c.sources[0].bounded(None).refresh, 3600);
    // A configuration with urls crosses IPC as it is.
    let bytes = bincode::serialize(&c).unwrap();
    assert_eq!(bincode::deserialize::<Config>(&bytes).unwrap(), c);
}

#[test]
fn url_errors_name_their_line() {
    let bad = |text: &str, line: usize, needle: &str| {
        let e = Config::parse(Path::new("x.conf"), text).unwrap_err();
        assert_eq!(e.line, Some(line), "{text}: {e}");
        assert!(e.reason.contains(needle), "{text}: {e}");
    };
    bad("[[source]]\n\nurl = \"ftp://x/y\"\n", 3, "scheme ftp");
    bad("[[source]]\nurl = \"rtr:/x\"\n", 2, "url");
    bad("[[source]]\nurl = \"rtr://x/path\"\n", 2, "no path");
    bad("[[source]]\nurl = \"rtr://x:99999\"\n", 2, "port 99999");
    bad("[[source]]\nurl = \"rtr://[::1]:0\"\n", 2, "port 0");
    bad(
        "[[source]]\nurl = \"https://user@x/\"\n",
        2,
        "user information",
    );
    bad("[[source]]\nurl = [\"rtr://a\", \"rtr://a\"]\n", 2, "twice");
    bad("[[source]]\nurl = []\n", 2, "empty group");
    bad(
        "[[source]]\npath = \"a.json\"\nurl = \"rtr://a\"\n",
        3,
        "not both",
    );
    bad(
        "\n[[source]]\nformat = \"csv\"\n",
        2,
        "needs a path or a url",
    );
    bad(
        "[[source]]\npath = \"a.json\"\npoll-interval = 60\n",
        3,
        "with a url",
    );
    bad(
        "[[source]]\nurl = \"rtr://a\"\npoll-interval = 60\n",
        3,
        "http and https",
    );
    bad(
        "[[source]]\nurl = \"rtr://a\"\nca-file = \"c.pem\"\n",
        3,
        "rtr+tls and https",
    );
    bad(
        "[[source]]\nurl = \"http://a/x\"\nmin-expire = 60\n",
        3,
        "rtr and rtr+tls",
    );
    bad(
        "[[source]]\nurl = \"https://a/x\"\nclient-key = \"k\"\n",
        3,
        "go together",
    );
    bad(
        "[[source]]\nurl = \"http://a/x\"\npoll-interval = 5\n",
        3,
        "10 to 86400",
    );
    bad(
        "[[source]]\nurl = \"rtr://a\"\nmin-retry = 700\n",
        3,
        "at most max-retry",
    );
    bad(
        "[[source]]\nurl = \"rtr://a\"\ntimeout = 0\n",
        3,
        "1 to 3600",
    );
    bad(
        "[[source]]\nurl = \"rtr://a\"\n[[source]]\nurl = [\"rtr://b\", \"rtr://a\"]\n",
        4,
        "in two sources",
    );
    // Two sources of 128 upstreams each are the most; one more is refused
    // at the source that goes beyond.
    let group = |from: usize| {
        let urls: Vec<String> = (from..from + 128)
            .map(|n| format!("\"rtr://a{n}\""))
            .collect();
        format!("[[source]]\nurl = [{}]\n", urls.join(", "))
    };
    let most = format!("{}{}", group(0), group(128));
    // As many RTR listen addresses as the rtr worker numbers, and no more.
    let listen = |n: u16| {
        let addrs: Vec<String> = (0..n)
            .map(|p| format!("\"127.0.0.1:{}\"", 10_000 + p))
            .collect();
        format!("[rtr]\nlisten = [{}]\n", addrs.join(", "))
    };
    assert!(Config::parse(Path::new("rovd.conf"), &listen(1000)).is_ok());
    bad(&listen(1001), 2, "at most 1000 RTR listen addresses");
    assert!(Config::parse(Path::new("rovd.conf"), &most).is_ok());
    bad(
        &format!("{most}[[source]]\nurl = \"rtr://b\"\n"),
        6,
        "at most 256 upstream urls",
    );
}
