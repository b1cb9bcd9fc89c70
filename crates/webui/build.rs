//! Builds the web client (`web/`, TypeScript + Vite) into `web/dist` when it is missing or older
//! than its sources, so that `cargo build` on a fresh machine embeds a current client. Runs
//! `npm ci` first when `web/node_modules` is missing or older than `package-lock.json`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// Inputs whose change makes the client stale (files or directories, relative to `web/`).
const INPUTS: &[&str] = &[
    "src",
    "public",
    "index.html",
    "package.json",
    "package-lock.json",
    "vite.config.ts",
    "tsconfig.json",
];

fn main() {
    let manifest =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let web = manifest.join("../../web");
    for input in INPUTS {
        println!("cargo:rerun-if-changed={}", web.join(input).display());
    }

    let newest_input = INPUTS.iter().filter_map(|p| newest(&web.join(p))).max();
    let built = modified(&web.join("dist/index.html"));
    let fresh = match (built, newest_input) {
        (Some(b), Some(i)) => b >= i,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if fresh {
        return;
    }

    if Command::new(npm()).arg("--version").output().is_err() {
        panic!(
            "\n\nenclave-webui: the web client in {} must be built, but `npm` was not found.\n\
             Install Node.js 20 or newer (with npm), then build again.\n\n",
            web.display()
        );
    }
    let lock = modified(&web.join("package-lock.json"));
    let installed = modified(&web.join("node_modules/.package-lock.json"))
        .or_else(|| modified(&web.join("node_modules")));
    let needs_install = match (installed, lock) {
        (Some(i), Some(l)) => i < l,
        (None, _) => true,
        (Some(_), None) => false,
    };
    if needs_install {
        run(&web, &["ci", "--no-audit", "--no-fund"]);
    }
    run(&web, &["run", "build"]);
    if !web.join("dist/index.html").is_file() {
        panic!("enclave-webui: `npm run build` did not produce web/dist/index.html");
    }
}

fn npm() -> &'static str {
    if cfg!(windows) { "npm.cmd" } else { "npm" }
}

fn run(dir: &Path, args: &[&str]) {
    let status = Command::new(npm())
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap_or_else(|e| panic!("enclave-webui: could not run npm {}: {e}", args.join(" ")));
    if !status.success() {
        panic!(
            "enclave-webui: `npm {}` failed in {} ({status})",
            args.join(" "),
            dir.display()
        );
    }
}

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// The newest modification time of a file, or of anything inside a directory.
fn newest(p: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(p).ok()?;
    let mut best = meta.modified().ok();
    if meta.is_dir() {
        for entry in std::fs::read_dir(p).ok()?.flatten() {
            if let Some(t) = newest(&entry.path()) {
                best = Some(best.map_or(t, |b| b.max(t)));
            }
        }
    }
    best
}
