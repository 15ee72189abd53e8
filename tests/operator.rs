//! What an operator reads and installs agrees with the code: the options in
//! rovd(8) are those `rovd --help` prints, every key of the configuration
//! model is in rovd.conf(5) and in the shipped `etc/rovd.conf` with its
//! default, `rovd -n` accepts that file and names the line of a bad key, and
//! `make install` lays out the files with their modes and never replaces an
//! operator's configuration. Without `make` the install checks are skipped
//! with a printed reason, except when the `CI` environment variable is set.

use std::collections::{BTreeMap, BTreeSet};
use std::env;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use rovd::config::{self, Config};

const ROVD: &str = env!("CARGO_BIN_EXE_rovd");

fn source(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    fs::read_to_string(source(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Standard output and standard error together, for messages.
fn output_text(out: &Output) -> String {
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    s
}

//------------ Command line ---------------------------------------------------

/// Options by flag (`-f`), each with the name of its argument, if any.
type Options = BTreeMap<String, Option<String>>;

/// Flags clap adds by itself; rovd(8) does not list them.
const CLAP_OWN: [&str; 4] = ["-h", "--help", "-V", "--version"];

/// Flags the parent passes to its children, hidden from operators.
const INTERNAL: [&str; 3] = ["role", "user", "chroot"];

/// The options `rovd --help` prints, from the lines under `Options:` such as
/// `  -f <file>      Use this configuration file [default: /etc/rovd.conf]`.
fn help_options(help: &str) -> Options {
    let mut options = Options::new();
    let lines = help.lines().skip_while(|l| l.trim() != "Options:").skip(1);
    for line in lines.filter(|l| l.trim_start().starts_with('-')) {
        let spec = line.trim().split("  ").next().unwrap();
        for flag in spec.split(", ") {
            let mut words = flag.split_whitespace();
            let name = words.next().unwrap().trim_end_matches("...");
            let value = words.next().map(|v| v.trim_matches(['<', '>']).to_string());
            if !CLAP_OWN.contains(&name) {
                options.insert(name.to_string(), value);
            }
        }
    }
    options
}

/// The options of an mdoc line's `Fl` macros: `Fl dnv` is three flags, and
/// `Fl f Ar file` one that takes `file`.
fn mdoc_flags(line: &str, options: &mut Options) {
    let words: Vec<&str> = line.split_whitespace().collect();
    for (i, _) in words.iter().enumerate().filter(|(_, w)| **w == "Fl") {
        let Some(letters) = words.get(i + 1) else {
            continue;
        };
        let value = match words.get(i + 2) {
            Some(&"Ar") => words.get(i + 3).map(ToString::to_string),
            _ => None,
        };
        let n = letters.chars().count();
        for (j, c) in letters.chars().enumerate() {
            let takes = if j + 1 == n { value.clone() } else { None };
            options.insert(format!("-{c}"), takes);
        }
    }
}

/// The lines of an mdoc section, `.Sh name` up to the next `.Sh`.
fn mdoc_section<'a>(page: &'a str, name: &str) -> Vec<&'a str> {
    page.lines()
        .skip_while(|l| *l != format!(".Sh {name}"))
        .skip(1)
        .take_while(|l| !l.starts_with(".Sh "))
        .collect()
}

/// rovd(8)'s SYNOPSIS, and its options list: the `.It Fl` items of the list
/// after "The options are as follows:".
fn manual_options(page: &str) -> (Options, Options) {
    let mut synopsis = Options::new();
    for line in mdoc_section(page, "SYNOPSIS") {
        if line.starts_with(".Op ") {
            mdoc_flags(line, &mut synopsis);
        }
    }
    let mut list = Options::new();
    let description = mdoc_section(page, "DESCRIPTION");
    let start = description
        .iter()
        .position(|l| *l == "The options are as follows:")
        .expect("rovd.8: no options list");
    let mut depth = 0;
    for line in &description[start + 1..] {
        if line.starts_with(".Bl ") {
            depth += 1;
        } else if line.starts_with(".El") {
            depth -= 1;
            if depth == 0 {
                break;
            }
        } else if depth == 1 && line.starts_with(".It Fl ") {
            mdoc_flags(line, &mut list);
        }
    }
    (synopsis, list)
}

#[test]
fn manual_options_are_the_command_line() {
    let out = Command::new(ROVD).arg("--help").output().unwrap();
    assert!(out.status.success(), "rovd --help: {}", output_text(&out));
    let help = String::from_utf8(out.stdout).unwrap();
    let page = read("man/rovd.8");

    let printed = help_options(&help);
    let (synopsis, list) = manual_options(&page);
    assert!(!printed.is_empty(), "no options in rovd --help:\n{help}");
    assert_eq!(
        synopsis, printed,
        "rovd.8 SYNOPSIS (left) and rovd --help (right) differ"
    );
    assert_eq!(
        list, printed,
        "rovd.8 options list (left) and rovd --help (right) differ"
    );

    // The default configuration file is the same in all three places.
    let f_help = help.lines().find(|l| l.trim().starts_with("-f ")).unwrap();
    assert!(
        f_help.contains(&format!("[default: {}]", config::DEFAULT_PATH)),
        "{f_help}"
    );
    assert!(
        page.contains(&format!(".Pa {} .", config::DEFAULT_PATH)),
        "rovd.8 does not give {} as the default -f",
        config::DEFAULT_PATH
    );

    for name in INTERNAL {
        assert!(
            !help.contains(&format!("--{name}")),
            "rovd --help shows the internal --{name}"
        );
        for spelling in [
            format!("Fl {name}"),
            format!("Fl -{name}"),
            format!("Fl \\-{name}"),
        ] {
            assert!(
                !page.contains(&spelling),
                "rovd.8 documents the internal --{name}"
            );
        }
    }
}

//------------ Configuration keys ---------------------------------------------

/// Keys by table: "" for the top level, else the table's name.
type Keys = BTreeMap<String, BTreeSet<String>>;

/// The keys of a TOML document; an array of tables counts with the keys of
/// all its tables.
fn toml_keys(doc: &toml::Table) -> Keys {
    let mut keys = Keys::new();
    for (name, value) in doc {
        let tables: Vec<&toml::Table> = match value {
            toml::Value::Table(t) => vec![t],
            toml::Value::Array(a) if a.iter().all(toml::Value::is_table) => {
                a.iter().filter_map(toml::Value::as_table).collect()
            }
            _ => {
                keys.entry(String::new()).or_default().insert(name.clone());
                continue;
            }
        };
        let entry = keys.entry(name.clone()).or_default();
        for t in tables {
            entry.extend(t.keys().cloned());
        }
    }
    keys
}

/// Every key the configuration model has, from a configuration with one
/// table of each kind written back out.
fn model_keys() -> Keys {
    let config = full_defaults();
    let text = toml::to_string(&config).expect("serialize Config");
    let keys = toml_keys(&text.parse().unwrap());
    for table in ["", "rtr", "tls", "http", "source", "slurm"] {
        assert!(keys.contains_key(table), "no {table:?} keys in\n{text}");
    }
    keys
}

/// Every key the key file model has, the same way.
fn key_file_keys() -> Keys {
    let text = toml::to_string(&key_file()).expect("serialize Keys");
    let keys = toml_keys(&text.parse().unwrap());
    for table in ["tcp-md5", "tcp-ao"] {
        assert!(keys.contains_key(table), "no {table:?} keys in\n{text}");
    }
    keys
}

/// The defaults, with one table of each kind that has required keys, a
/// TLS table with every key (its paths have no default), and a key file.
fn full_defaults() -> Config {
    Config::parse(
        Path::new("/etc/rovd.conf"),
        "key-file = \"rovd.keys\"\n\
         [[source]]\npath = \"x\"\n[[slurm]]\npath = \"y\"\n\
         [[source]]\nurl = [\"https://a/x\", \"rtr://b\"]\nca-file = \"c\"\n\
         client-certificate = \"c\"\nclient-key = \"k\"\n\
         [tls]\ncertificate = \"c\"\nkey = \"k\"\nclient-ca = \"a\"\n\
         [http]\nlisten = [\"127.0.0.1:8323\"]\n",
    )
    .expect("defaults")
}

/// A key file with one table of each kind.
fn key_file() -> config::Keys {
    config::Keys::parse(
        Path::new("/etc/rovd.keys"),
        "[[tcp-md5]]\npeer = \"192.0.2.1\"\nkey = \"k\"\n\
         [[tcp-ao]]\npeer = \"192.0.2.2\"\nkey = \"k\"\n\
         send-id = 0\nrecv-id = 0\nalgorithm = \"hmac-sha1\"\n",
    )
    .expect("key file")
}

/// The keys rovd.conf(5) describes, `.It Ic key` in each `.Ss` subsection
/// that names a table ("The rtr table", "The source tables") or the top
/// level ("Top-level keys").
fn manual_keys(page: &str, tables: &BTreeSet<String>) -> Keys {
    let mut keys = Keys::new();
    let mut table: Option<String> = None;
    let mut depth = 0;
    for line in page.lines() {
        if let Some(title) = line.strip_prefix(".Ss ") {
            table = if title.starts_with("Top-level") {
                Some(String::new())
            } else {
                title
                    .split_whitespace()
                    .find(|w| tables.contains(*w))
                    .map(str::to_string)
            };
        } else if line.starts_with(".Sh ") {
            table = None;
        } else if line.starts_with(".Bl ") {
            depth += 1;
        } else if line.starts_with(".El") {
            depth -= 1;
        } else if let (Some(t), Some(rest), 1) = (&table, line.strip_prefix(".It Ic "), depth) {
            let key = rest.split_whitespace().next().unwrap().to_string();
            keys.entry(t.clone()).or_default().insert(key);
        }
    }
    keys
}

/// The example configuration with its commented-out settings turned on:
/// `#[[slurm]]` and `#path = …` lose their `#`, prose stays a comment.
fn uncommented(text: &str) -> String {
    let setting = |l: &str| {
        let l = l.trim();
        (l.starts_with('[') && l.ends_with(']'))
            || l.split_once(" = ").is_some_and(|(k, _)| {
                !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '-')
            })
    };
    text.lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest) if setting(rest) => rest,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn manual_describes_every_key() {
    let mut model = model_keys();
    model.extend(key_file_keys());
    let tables = model.keys().filter(|t| !t.is_empty()).cloned().collect();
    let described = manual_keys(&read("man/rovd.conf.5"), &tables);
    assert_eq!(
        described, model,
        "rovd.conf.5 .It Ic keys (left) and the keys of src/config.rs (right) differ"
    );
}

#[test]
fn example_configuration_has_every_key_at_its_default() {
    let shipped = read("etc/rovd.conf");
    let all = uncommented(&shipped);
    let doc: toml::Table = all.parse().expect("etc/rovd.conf, uncommented");
    assert_eq!(
        toml_keys(&doc),
        model_keys(),
        "etc/rovd.conf, uncommented (left), and src/config.rs (right) differ"
    );

    // Each setting has its own comment line above it.
    let lines: Vec<&str> = all.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.contains(" = ") && !line.starts_with('#') {
            assert!(
                i > 0 && lines[i - 1].starts_with("# "),
                "etc/rovd.conf: {line:?} has no comment above it"
            );
        }
    }

    // Every value is the default, the paths aside.
    let mut config = Config::parse(Path::new("/etc/rovd.conf"), &all).unwrap();
    assert_eq!(config.sources.len(), 2);
    assert_eq!(config.slurm.len(), 1);
    let defaults = full_defaults();
    config.sources[0].path = defaults.sources[0].path.clone();
    let (upstreams, want) = (&mut config.sources[1], &defaults.sources[1]);
    upstreams.url.clone_from(&want.url);
    upstreams.ca_file.clone_from(&want.ca_file);
    upstreams
        .client_certificate
        .clone_from(&want.client_certificate);
    upstreams.client_key.clone_from(&want.client_key);
    config.slurm[0].path = defaults.slurm[0].path.clone();
    config.key_file.clone_from(&defaults.key_file);
    config.http.listen.clone_from(&defaults.http.listen);
    let (tls, want) = (config.tls.as_mut().unwrap(), defaults.tls.as_ref().unwrap());
    tls.certificate = want.certificate.clone();
    tls.key = want.key.clone();
    tls.client_ca = want.client_ca.clone();
    assert_eq!(
        config, defaults,
        "etc/rovd.conf sets a value other than the default"
    );

    // As shipped: rpki-client's output, and no SLURM.
    let config = Config::parse(Path::new("/etc/rovd.conf"), &shipped).unwrap();
    assert_eq!(config.sources.len(), 1, "etc/rovd.conf has an upstream");
    assert_eq!(
        config.sources[0].file(),
        Some(Path::new("/var/db/rpki-client/json"))
    );
    assert!(config.slurm.is_empty(), "etc/rovd.conf turns SLURM on");
    assert!(config.key_file.is_none(), "etc/rovd.conf names a key file");
    assert!(config.tls.is_none(), "etc/rovd.conf turns TLS on");
    assert!(config.http.listen.is_empty(), "etc/rovd.conf turns HTTP on");
}

#[test]
fn example_key_file_has_every_key_and_no_key_as_shipped() {
    let shipped = read("etc/rovd.keys");
    let keys = config::Keys::parse(Path::new("/etc/rovd.keys"), &shipped).unwrap();
    assert!(
        keys.tcp_md5.is_empty() && keys.tcp_ao.is_empty(),
        "keys shipped"
    );
    let all = uncommented(&shipped);
    let doc: toml::Table = all.parse().expect("etc/rovd.keys, uncommented");
    assert_eq!(toml_keys(&doc), key_file_keys(), "etc/rovd.keys (left)");
    config::Keys::parse(Path::new("/etc/rovd.keys"), &all).unwrap();
}

#[test]
fn manual_example_parses() {
    let page = read("man/rovd.conf.5");
    let example: Vec<&str> = mdoc_section(&page, "EXAMPLES")
        .into_iter()
        .skip_while(|l| !l.starts_with(".Bd -literal"))
        .skip(1)
        .take_while(|l| *l != ".Ed")
        .collect();
    assert!(!example.is_empty(), "rovd.conf.5 has no example");
    let text = example.join("\n").replace("\\(dq", "\"");
    if let Err(e) = Config::parse(Path::new("/etc/rovd.conf"), &text) {
        panic!("rovd.conf.5 EXAMPLES: {e}\n{text}");
    }
}

//------------ rovd -n ---------------------------------------------------------

#[test]
fn check_accepts_the_example_configuration() {
    let out = Command::new(ROVD)
        .args(["-n", "-f"])
        .arg(source("etc/rovd.conf"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "rovd -n: {}", output_text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "configuration OK\n");
}

#[test]
fn check_names_the_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rovd.conf");
    fs::write(
        &file,
        "# a source with a misspelt key\n\
         [[source]]\n\
         path = \"/var/db/rpki-client/json\"\n\
         maxage = 3600\n",
    )
    .unwrap();
    let out = Command::new(ROVD)
        .args(["-n", "-f"])
        .arg(&file)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let said = output_text(&out);
    assert!(!out.status.success(), "rovd -n accepted it: {said}");
    assert!(
        !said.contains("configuration OK"),
        "rovd -n said OK as well: {said}"
    );
    assert!(
        said.contains(&format!("{}:4:", file.display())),
        "no file and line 4: {said}"
    );
    assert!(said.contains("maxage"), "key not named: {said}");
}

//------------ make install ---------------------------------------------------

/// Run make in the source tree with `args`; `None` if there is no make,
/// which skips the check with a printed reason, or fails under CI.
fn make(args: &[String]) -> Option<Output> {
    let mut cmd = Command::new("make");
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .stdin(Stdio::null());
    // Only what the test passes counts, not an outer make or the caller's
    // environment.
    for var in [
        "MAKEFLAGS",
        "MFLAGS",
        "MAKELEVEL",
        "SYSCONFDIR",
        "MANDIR",
        "UNITDIR",
        "SYSUSERSDIR",
        "TMPFILESDIR",
        "RCDIR",
        "INSTALL",
    ] {
        cmd.env_remove(var);
    }
    match cmd.output() {
        Ok(out) => Some(out),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                env::var_os("CI").is_none(),
                "make is not installed (Debian package make), and CI must run this check"
            );
            println!("skipped: make not installed (Debian package make)");
            None
        }
        Err(e) => panic!("cannot run make: {e}"),
    }
}

/// `make <target>` into `dest`, with the binaries from the test build;
/// `None` without make.
fn make_target(target: &str, dest: &Path, prefix: &str, init: &str) -> Option<Output> {
    let bindir = Path::new(ROVD).parent().unwrap();
    let out = make(&[
        target.to_string(),
        format!("DESTDIR={}", dest.display()),
        format!("PREFIX={prefix}"),
        format!("BINDIR_SRC={}", bindir.display()),
        format!("INIT={init}"),
    ])?;
    assert!(out.status.success(), "make {target}: {}", output_text(&out));
    Some(out)
}

/// Every file beneath `root`, relative to it, with its permission bits.
fn tree(root: &Path) -> BTreeMap<String, u32> {
    fn walk(root: &Path, dir: &Path, files: &mut BTreeMap<String, u32>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                walk(root, &path, files);
            } else {
                let rel = path.strip_prefix(root).unwrap().display().to_string();
                files.insert(rel, meta.permissions().mode() & 0o7777);
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(root, root, &mut files);
    files
}

#[test]
fn install_lays_out_the_files_and_keeps_the_configuration() {
    let dest = tempfile::tempdir().unwrap();
    let dest = dest.path();
    let Some(_) = make_target("install", dest, "/usr/local", "systemd") else {
        return;
    };

    let mut expected: BTreeMap<String, u32> = [
        ("usr/local/sbin/rovd", 0o755),
        ("usr/local/share/man/man8/rovd.8", 0o644),
        ("usr/local/share/man/man5/rovd.conf.5", 0o644),
        ("etc/rovd.conf", 0o644),
        ("usr/local/lib/systemd/system/rovd.service", 0o644),
        ("usr/local/lib/sysusers.d/rovd.conf", 0o644),
        ("usr/local/lib/tmpfiles.d/rovd.conf", 0o644),
    ]
    .into_iter()
    .map(|(p, m)| (p.to_string(), m))
    .collect();
    // rovctl and its manual are installed when they exist.
    if Path::new(ROVD).with_file_name("rovctl").is_file() {
        expected.insert("usr/local/bin/rovctl".into(), 0o755);
    }
    if source("man/rovctl.8").is_file() {
        expected.insert("usr/local/share/man/man8/rovctl.8".into(), 0o644);
    }
    assert_eq!(tree(dest), expected, "installed (left), expected (right)");

    let same = |installed: &str, from: &Path| {
        assert!(
            fs::read(dest.join(installed)).unwrap() == fs::read(from).unwrap(),
            "{installed} is not {}",
            from.display()
        );
    };
    same("usr/local/sbin/rovd", Path::new(ROVD));
    same("usr/local/share/man/man8/rovd.8", &source("man/rovd.8"));
    same("etc/rovd.conf", &source("etc/rovd.conf"));
    same(
        "usr/local/lib/sysusers.d/rovd.conf",
        &source("systemd/rovd.sysusers"),
    );
    same(
        "usr/local/lib/tmpfiles.d/rovd.conf",
        &source("systemd/rovd.tmpfiles"),
    );
    let unit = fs::read_to_string(dest.join("usr/local/lib/systemd/system/rovd.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/local/sbin/rovd "),
        "unit does not start the installed rovd:\n{unit}"
    );

    // An operator's configuration survives a second install.
    let conf = dest.join("etc/rovd.conf");
    let edited = "# edited by the operator\n[[source]]\npath = \"/srv/rpki.json\"\n";
    fs::write(&conf, edited).unwrap();
    make_target("install", dest, "/usr/local", "systemd").unwrap();
    assert_eq!(fs::read_to_string(&conf).unwrap(), edited);

    // Uninstall takes everything back but the configuration.
    make_target("uninstall", dest, "/usr/local", "systemd").unwrap();
    let left: Vec<String> = tree(dest).into_keys().collect();
    assert_eq!(left, ["etc/rovd.conf"]);
}

#[test]
fn service_files_name_the_installed_binary() {
    let dest = tempfile::tempdir().unwrap();
    let dest = dest.path();
    let Some(_) = make_target("install", dest, "/opt/rovd", "openbsd") else {
        return;
    };
    let files = tree(dest);
    assert_eq!(files.get("etc/rc.d/rovd"), Some(&0o555), "{files:?}");
    assert!(
        !files.keys().any(|f| f.contains("systemd")),
        "systemd files on OpenBSD: {files:?}"
    );
    let rc = fs::read_to_string(dest.join("etc/rc.d/rovd")).unwrap();
    assert!(rc.contains("daemon=\"/opt/rovd/sbin/rovd\""), "{rc}");
    make_target("uninstall", dest, "/opt/rovd", "openbsd").unwrap();
    let left: Vec<String> = tree(dest).into_keys().collect();
    assert_eq!(left, ["etc/rovd.conf"]);

    let dest = tempfile::tempdir().unwrap();
    let dest = dest.path();
    make_target("install", dest, "/usr", "systemd").unwrap();
    let unit = fs::read_to_string(dest.join("usr/lib/systemd/system/rovd.service")).unwrap();
    assert!(unit.contains("ExecStartPre=/usr/sbin/rovd -n "), "{unit}");
    assert!(unit.contains("ExecStart=/usr/sbin/rovd -d "), "{unit}");
    assert!(!unit.contains("/usr/local"), "{unit}");
}

#[test]
fn install_refuses_without_a_build() {
    let dest = tempfile::tempdir().unwrap();
    let Some(out) = make(&[
        "install".into(),
        format!("DESTDIR={}", dest.path().display()),
        "BINDIR_SRC=/nonexistent".into(),
    ]) else {
        return;
    };
    assert!(!out.status.success(), "installed without rovd");
    assert!(
        output_text(&out).contains("run make first"),
        "{}",
        output_text(&out)
    );
    assert!(tree(dest.path()).is_empty(), "installed something");
}
