//! The files that install and describe rovd, checked with the system's own
//! tools rather than with rovd: the manual pages are lint-clean, the systemd
//! unit verifies (and its exposure score is printed), the sysusers.d and
//! tmpfiles.d entries create what rovd expects, and the rc.d script parses.
//! A missing tool skips its check with a printed reason, except when the `CI`
//! environment variable is set: CI runs every check. Nothing here starts rovd.

use std::env;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const ROVD: &str = env!("CARGO_BIN_EXE_rovd");

/// Where the unit file and the rc.d script expect rovd and its configuration.
const INSTALLED_ROVD: &str = "/usr/local/sbin/rovd";
const INSTALLED_CONF: &str = "/etc/rovd.conf";

fn source(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The path of `name` on `PATH`. When it is missing the check is skipped
/// with a printed reason, or fails under CI.
fn tool(name: &str, package: &str) -> Option<PathBuf> {
    let found = find(name);
    if found.is_none() {
        assert!(
            env::var_os("CI").is_none(),
            "{name} is not installed (Debian package {package}), and CI must run this check"
        );
        println!("skipped: {name} not installed (Debian package {package})");
    }
    found
}

fn find(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Run `cmd`, with `input` on its standard input if given.
fn run(cmd: &mut Command, input: Option<&Path>) -> Output {
    if let Some(input) = input {
        cmd.stdin(fs::File::open(input).expect("open input"));
    } else {
        cmd.stdin(Stdio::null());
    }
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Standard output and standard error together, for assertions and messages.
fn output_text(out: &Output) -> String {
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    s
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

//------------ Manual pages ---------------------------------------------------

#[test]
fn manual_pages_are_lint_clean() {
    let Some(mandoc) = tool("mandoc", "mandoc") else {
        return;
    };
    let mut pages: Vec<PathBuf> = fs::read_dir(source("man"))
        .expect("read man/")
        .map(|e| e.expect("man/ entry").path())
        .collect();
    pages.sort();
    assert!(!pages.is_empty(), "no manual pages in man/");

    let out = run(
        Command::new(mandoc)
            .args(["-Tlint", "-W", "warning"])
            .args(&pages),
        None,
    );
    let said = output_text(&out);
    assert!(
        out.status.success() && said.trim().is_empty(),
        "mandoc -Tlint -W warning {pages:?}: {}\n{said}",
        out.status
    );
}

//------------ systemd --------------------------------------------------------

/// The unit as shipped, but starting the rovd just built with a
/// configuration in `dir`, and the manual pages installed beneath
/// `dir/man` for the `Documentation=` check. Returns the unit's path.
fn unit_for_verify(dir: &Path) -> PathBuf {
    let unit = fs::read_to_string(source("systemd/rovd.service")).expect("read rovd.service");
    // Both command lines name the installed binary and configuration; if
    // that changes, this rewrite has to change with it.
    assert_eq!(unit.matches(INSTALLED_ROVD).count(), 2, "{unit}");
    let conf_arg = format!("-f {INSTALLED_CONF}");
    assert_eq!(unit.matches(&conf_arg).count(), 2, "{unit}");

    let conf = dir.join("rovd.conf");
    fs::copy(source("etc/demo.conf"), &conf).expect("copy demo.conf");
    let unit = unit
        .replace(INSTALLED_ROVD, ROVD)
        .replace(&conf_arg, &format!("-f {}", conf.display()));

    for (page, section) in [("rovd.8", "man8"), ("rovd.conf.5", "man5")] {
        let to = dir.join("man").join(section);
        fs::create_dir_all(&to).expect("create man dir");
        fs::copy(source("man").join(page), to.join(page)).expect("copy page");
    }

    let path = dir.join("rovd.service");
    fs::write(&path, unit).expect("write unit");
    path
}

#[test]
fn systemd_unit_verifies() {
    let Some(analyze) = tool("systemd-analyze", "systemd") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = unit_for_verify(dir.path());

    // The Documentation= pages are looked up with man(1), here in the tree
    // written above; without man(1) that part cannot be checked.
    let mut cmd = Command::new(&analyze);
    cmd.arg("verify").env("MANPATH", dir.path().join("man"));
    if find("man").is_none() {
        println!("man(1) not installed: verifying without the Documentation= check");
        cmd.arg("--man=no");
    }
    let out = run(cmd.arg(&unit), None);
    let said = output_text(&out);
    // verify prints nothing for a sound unit: any line is a finding.
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify: {}\n{said}",
        out.status
    );

    // The exposure score is informational: rovd starts as root by design,
    // which the score counts against it.
    let out = run(
        Command::new(&analyze)
            .args(["security", "--offline=yes", "--no-pager"])
            .arg(&unit),
        None,
    );
    let said = output_text(&out);
    if !out.status.success() && said.contains("offline") {
        println!("systemd-analyze security --offline is not supported by this systemd");
        return;
    }
    assert!(
        out.status.success(),
        "systemd-analyze security: {}\n{said}",
        out.status
    );
    let score = said
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no exposure level in:\n{said}"));
    println!(
        "{}",
        score.trim_start_matches(|c: char| !c.is_alphanumeric())
    );
}

#[test]
fn sysusers_entry_creates_the_system_user() {
    let Some(sysusers) = tool("systemd-sysusers", "systemd") else {
        return;
    };
    let root = tempfile::tempdir().expect("tempdir");
    fs::create_dir(root.path().join("etc")).expect("create etc");
    let out = run(
        Command::new(sysusers)
            .arg("--root")
            .arg(root.path())
            .arg("-"),
        Some(&source("systemd/rovd.sysusers")),
    );
    assert!(
        out.status.success(),
        "systemd-sysusers: {}",
        output_text(&out)
    );

    let passwd = fs::read_to_string(root.path().join("etc/passwd")).expect("read passwd");
    let group = fs::read_to_string(root.path().join("etc/group")).expect("read group");
    let user: Vec<&str> = passwd
        .lines()
        .find(|l| l.starts_with("_rovd:"))
        .unwrap_or_else(|| panic!("no _rovd in passwd:\n{passwd}"))
        .split(':')
        .collect();
    let gid = group
        .lines()
        .find(|l| l.starts_with("_rovd:"))
        .unwrap_or_else(|| panic!("no _rovd in group:\n{group}"))
        .split(':')
        .nth(2)
        .expect("group gid");
    let uid: u32 = user[2].parse().expect("uid");
    assert!(uid > 0 && uid < 1000, "not a system uid: {uid}");
    assert_eq!(user[3], gid, "_rovd's primary group is not its own");
    assert_eq!(
        user[4..],
        ["rovd RTR cache daemon", "/var/empty", "/usr/sbin/nologin"]
    );
}

#[test]
fn tmpfiles_entry_creates_the_chroot_directory() {
    let Some(tmpfiles) = tool("systemd-tmpfiles", "systemd") else {
        return;
    };
    if !is_root() {
        // Creating a directory owned by root needs root.
        println!("skipped: systemd-tmpfiles check needs root");
        return;
    }
    let root = tempfile::tempdir().expect("tempdir");
    let out = run(
        Command::new(tmpfiles)
            .arg("--root")
            .arg(root.path())
            .args(["--create", "-"]),
        Some(&source("systemd/rovd.tmpfiles")),
    );
    assert!(
        out.status.success(),
        "systemd-tmpfiles: {}",
        output_text(&out)
    );

    // What rovd demands of its chroot directory: root's, and writable by
    // no one else.
    let meta = fs::metadata(root.path().join("var/empty")).expect("var/empty");
    assert!(meta.is_dir());
    assert_eq!((meta.uid(), meta.gid()), (0, 0));
    assert_eq!(meta.mode() & 0o7777, 0o755);
}

//------------ OpenBSD rc.d ---------------------------------------------------

#[test]
fn rc_script_parses() {
    let script = source("rc.d/rovd");
    let text = fs::read_to_string(&script).expect("read rc.d/rovd");
    assert!(
        text.contains(&format!("daemon=\"{INSTALLED_ROVD}\"")),
        "{text}"
    );

    // rc.subr(8) insists on ksh; OpenBSD's is the pdksh lineage (Debian's
    // loksh), but any ksh or a POSIX sh can tell whether it parses.
    let mut parsed = 0;
    for shell in ["sh", "ksh", "loksh", "mksh"] {
        let Some(path) = find(shell) else { continue };
        let out = run(Command::new(path).arg("-n").arg(&script), None);
        assert!(
            out.status.success(),
            "{shell} -n rc.d/rovd: {}",
            output_text(&out)
        );
        parsed += 1;
    }
    if parsed == 0 {
        tool("sh", "dash");
    }
}
