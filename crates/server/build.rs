//! Embeds the web app's build (`web/dist`) in the binary: writes `$OUT_DIR/web_assets.rs`, a
//! table of every file with its brotli and gzip forms when the build made them.
//!
//! The front end is built by npm (scripts/build-web.sh), not by cargo: a build script that ran
//! npm would need the network and node for every `cargo build`. So a missing build stops here
//! with the command that makes it.

// Cargo reads a build script's instructions from its standard output.
#![allow(clippy::print_stdout)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let dist = manifest.join("../../web/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    println!("cargo:rerun-if-env-changed=FERROCAST_WEB_DIST");
    let dist = std::env::var_os("FERROCAST_WEB_DIST")
        .map(PathBuf::from)
        .unwrap_or(dist);
    if !dist.join("index.html").is_file() {
        panic!(
            "\n\nThe web app is not built: {} has no index.html.\n\
             Run `scripts/build-web.sh` (needs node and npm: scripts/deps.sh run installs them),\n\
             then build again.\n\n",
            dist.display()
        );
    }
    let mut files = Vec::new();
    walk(&dist, &dist, &mut files);
    files.sort();
    let mut out = String::from("&[\n");
    for rel in &files {
        let path = dist.join(rel);
        println!("cargo:rerun-if-changed={}", path.display());
        let variant = |ext: &str| {
            let p = dist.join(format!("{rel}.{ext}"));
            if p.is_file() {
                println!("cargo:rerun-if-changed={}", p.display());
                format!("Some(include_bytes!({:?}))", p.display().to_string())
            } else {
                "None".to_owned()
            }
        };
        let _ = writeln!(
            out,
            "    WebAsset {{ path: {:?}, body: include_bytes!({:?}), br: {}, gzip: {} }},",
            format!("/{rel}"),
            path.display().to_string(),
            variant("br"),
            variant("gz"),
        );
    }
    out.push(']');
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    std::fs::write(out_dir.join("web_assets.rs"), out).expect("writing web_assets.rs");
}

/// Every file under `dir`, relative to `root` with `/` separators, except the compressed
/// variants (they ride along with their original).
fn walk(root: &Path, dir: &Path, files: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            walk(root, &path, files);
            continue;
        }
        let name = path.to_string_lossy();
        if name.ends_with(".br") || name.ends_with(".gz") {
            continue;
        }
        if let Ok(rel) = path.strip_prefix(root) {
            let rel = rel.to_string_lossy().replace('\\', "/");
            files.push(rel);
        }
    }
}
