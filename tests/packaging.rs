//! Installing memwatch the way Python developers install profilers: `pip install .` into a
//! fresh venv (the maturin backend of pyproject.toml, `bindings = "bin"`) puts `memwatch` on
//! the venv's PATH, and it runs. maturin comes from the package index, as pip fetches any
//! build backend. The build uses this checkout's target folder, where `cargo test` has just
//! built the same release binary (cargo runs one test binary at a time and holds no lock
//! while tests run), so it costs seconds, not a second build of every dependency.

use std::path::Path;
use std::process::Command;

#[test]
fn pip_install_puts_memwatch_on_the_venv_path() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("venv");
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "python3 -m venv: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let pip = Command::new(venv.join("bin/pip"))
        .args([
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--quiet",
        ])
        .arg(root)
        .env("CARGO_TARGET_DIR", root.join("target"))
        .output()
        .unwrap();
    assert!(
        pip.status.success(),
        "pip install . failed:\n{}\n{}",
        String::from_utf8_lossy(&pip.stdout),
        String::from_utf8_lossy(&pip.stderr)
    );
    let exe = venv.join("bin/memwatch");
    assert!(exe.exists(), "no {}", exe.display());
    // found on the venv's PATH, as a user who activated it runs it
    let path = format!(
        "{}:{}",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("memwatch")
        .arg("--version")
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("memwatch {}", env!("CARGO_PKG_VERSION"))
    );
    // and it is the real thing: a bad PID gets memwatch's own one-line error and code
    let bad = Command::new(&exe)
        .args(["--pid", "999999999", "--no-tui"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(10), "{bad:?}");
}
