//! Builds the web UI in `ui/` with npm when its output is stale, then writes every file of
//! `ui/dist` gzip-compressed into `OUT_DIR` with a table of `include_bytes!` entries.
//!
//! Without Node.js/npm (or when the front end fails to build and no earlier build exists) the
//! build still succeeds: a small page explaining how to build the UI is embedded instead and a
//! cargo warning says so, so that `cargo build` never depends on a JavaScript toolchain.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// Inputs of the front-end build; a change to any of them reruns this script.
const WATCHED: &[&str] = &[
    "src",
    "public",
    "index.html",
    "package.json",
    "package-lock.json",
    "vite.config.ts",
    "tsconfig.json",
];

/// Set to 1 to embed `ui/dist` as it is without running npm (packagers building offline).
const NO_NPM_ENV: &str = "PHAROS_UI_NO_NPM";

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let ui = manifest_dir.join("../../ui");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed={NO_NPM_ENV}");
    if ui.is_dir() {
        for name in WATCHED {
            let p = ui.join(name);
            // A missing path would make cargo rerun this script on every build.
            if p.exists() {
                println!("cargo:rerun-if-changed={}", p.display());
            }
        }
    } else {
        println!("cargo:rerun-if-changed={}", ui.display());
    }

    let dist = match prepare_dist(&ui) {
        Ok(dist) => Some(dist),
        Err(why) => {
            println!("cargo:warning=the web UI is not embedded: {why}");
            None
        }
    };
    let table = match dist.as_deref().map(|d| write_embedded(d, &out_dir)) {
        Some(Ok(table)) => table,
        Some(Err(e)) => {
            println!("cargo:warning=the web UI is not embedded: reading ui/dist: {e}");
            write_placeholder(&out_dir)
        }
        None => write_placeholder(&out_dir),
    };
    let path = out_dir.join("embedded_ui.rs");
    if fs::read_to_string(&path).ok().as_deref() != Some(table.as_str()) {
        if let Err(e) = fs::write(&path, table) {
            panic!("writing {}: {e}", path.display());
        }
    }
}

/// Makes `ui/dist` current (npm ci, npm run build) and returns it, or why it cannot.
fn prepare_dist(ui: &Path) -> Result<PathBuf, String> {
    let dist = ui.join("dist");
    if !ui.join("package.json").is_file() {
        return Err(format!(
            "{} has no package.json (the front-end sources are missing)",
            ui.display()
        ));
    }
    if std::env::var_os(NO_NPM_ENV).is_some_and(|v| v == "1") {
        return if dist.join("index.html").is_file() {
            Ok(dist)
        } else {
            Err(format!("{NO_NPM_ENV}=1 and ui/dist has not been built"))
        };
    }
    if let Err(why) = tool_available("node").and_then(|()| tool_available("npm")) {
        return Err(format!(
            "{why}; install Node.js 20 or newer with npm and rebuild to get the web UI"
        ));
    }
    // Several checkouts' builds (different target directories) may run at once; npm ci
    // deletes node_modules first, so two concurrent runs would corrupt it.
    let _lock = BuildLock::acquire(ui);
    let lock_file = ui.join("package-lock.json");
    let installed = ui.join("node_modules/.package-lock.json");
    if newer(&lock_file, &installed) {
        if let Err(why) = run_npm(ui, &["ci", "--no-audit", "--no-fund"]) {
            // npm ci refuses a lock file that lacks optional packages a registry mirror does
            // not carry (other platforms' binaries); install from the lock file as far as it
            // goes, without rewriting it.
            println!("cargo:warning={why}; trying `npm install --no-save` instead");
            run_npm(ui, &["install", "--no-save", "--no-audit", "--no-fund"])?;
        }
    }
    let built = dist.join("index.html");
    let newest_source = WATCHED
        .iter()
        .filter_map(|n| newest_mtime(&ui.join(n)))
        .max();
    let stale = match (mtime(&built), newest_source) {
        (None, _) => true,
        (Some(b), Some(s)) => s > b,
        (Some(_), None) => false,
    };
    if stale {
        if let Err(why) = run_npm(ui, &["run", "build"]) {
            if built.is_file() {
                println!("cargo:warning=embedding the previous ui/dist: {why}");
                return Ok(dist);
            }
            return Err(why);
        }
    }
    if built.is_file() {
        Ok(dist)
    } else {
        Err("npm run build did not write ui/dist/index.html".to_string())
    }
}

/// Oldest Node.js major version the front end's tool chain (Vite) runs on.
const MIN_NODE_MAJOR: u32 = 20;

fn tool_available(name: &str) -> Result<(), String> {
    match Command::new(name).arg("--version").output() {
        Ok(o) if o.status.success() && name == "node" => {
            let version = String::from_utf8_lossy(&o.stdout).trim().to_string();
            let major = version
                .trim_start_matches('v')
                .split('.')
                .next()
                .and_then(|m| m.parse::<u32>().ok());
            match major {
                Some(m) if m >= MIN_NODE_MAJOR => Ok(()),
                _ => Err(format!("node {version} is too old")),
            }
        }
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!("`{name} --version` failed with {}", o.status)),
        Err(e) => Err(format!("{name} was not found ({e})")),
    }
}

fn run_npm(ui: &Path, args: &[&str]) -> Result<(), String> {
    let shown = format!("npm {}", args.join(" "));
    let out = Command::new("npm")
        .args(args)
        .current_dir(ui)
        .output()
        .map_err(|e| format!("running `{shown}` in ui/: {e}"))?;
    // Cargo shows this script's stderr when asked (-vv) or when it fails.
    let _ = std::io::stderr().write_all(&out.stdout);
    let _ = std::io::stderr().write_all(&out.stderr);
    if out.status.success() {
        return Ok(());
    }
    // Compiler errors go to stdout, npm's own complaints to stderr; npm's warnings are noise.
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.trim().trim_start_matches("npm error").trim())
        .filter(|l| !l.is_empty() && !l.starts_with("npm warn") && !l.starts_with('>'))
        .take(4)
        .collect();
    Err(format!(
        "`{shown}` in ui/ failed ({}): {}",
        out.status,
        lines.join(" | ")
    ))
}

/// An exclusive lock on a file in the temp directory, released when dropped.
struct BuildLock(Option<fs::File>);

impl BuildLock {
    fn acquire(ui: &Path) -> BuildLock {
        let key = fs::canonicalize(ui).unwrap_or_else(|_| ui.to_path_buf());
        // FNV-1a: a stable name per checkout without a hashing dependency.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in key.to_string_lossy().bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        let path = std::env::temp_dir().join(format!("pharos-ui-build-{h:016x}.lock"));
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .ok()
            .filter(|f| f.lock().is_ok());
        BuildLock(file)
    }
}

impl Drop for BuildLock {
    fn drop(&mut self) {
        if let Some(f) = &self.0 {
            let _ = f.unlock();
        }
    }
}

fn mtime(p: &Path) -> Option<SystemTime> {
    fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Whether `a` was modified after `b` (or `b` is missing).
fn newer(a: &Path, b: &Path) -> bool {
    match (mtime(a), mtime(b)) {
        (_, None) => true,
        (Some(x), Some(y)) => x > y,
        (None, Some(_)) => false,
    }
}

/// The newest modification time of a file or of anything under a directory.
fn newest_mtime(p: &Path) -> Option<SystemTime> {
    let meta = fs::symlink_metadata(p).ok()?;
    let own = meta.modified().ok();
    if !meta.is_dir() {
        return own;
    }
    let children = fs::read_dir(p).ok()?;
    children
        .filter_map(Result::ok)
        .filter_map(|e| newest_mtime(&e.path()))
        .chain(own)
        .max()
}

/// Every regular file under `dir`, as paths relative to it with '/' separators, sorted.
fn list_files(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d)? {
            let entry = entry?;
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let rel = path.strip_prefix(dir).unwrap_or(&path);
                let parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push(parts.join("/"));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data)?;
    enc.finish()
}

/// Writes one blob per file of `dist` and returns the table source.
fn write_embedded(dist: &Path, out_dir: &Path) -> std::io::Result<String> {
    let blobs = out_dir.join("ui");
    if blobs.is_dir() {
        fs::remove_dir_all(&blobs)?;
    }
    fs::create_dir_all(&blobs)?;
    let mut table = String::from("/// Whether the real front end was embedded.\n");
    table.push_str("pub(crate) const BUILT: bool = true;\n");
    table.push_str("/// The embedded files, sorted by path.\n");
    table.push_str("pub(crate) static FILES: &[EmbeddedFile] = &[\n");
    let (mut raw_total, mut stored_total) = (0usize, 0usize);
    for (i, rel) in list_files(dist)?.iter().enumerate() {
        let raw = fs::read(dist.join(rel))?;
        let packed = gzip(&raw)?;
        // Already-compressed formats (woff2, png) barely shrink; store those as they are.
        let gzipped = packed.len() + packed.len() / 10 < raw.len();
        let stored = if gzipped { &packed } else { &raw };
        let blob = blobs.join(format!("{i}.bin"));
        fs::write(&blob, stored)?;
        raw_total += raw.len();
        stored_total += stored.len();
        let _ = writeln!(
            table,
            "    EmbeddedFile {{ path: {rel:?}, data: include_bytes!({:?}), gzipped: {gzipped}, raw_len: {} }},",
            blob.display().to_string(),
            raw.len()
        );
    }
    table.push_str("];\n");
    let _ = writeln!(
        table,
        "/// Bytes of the files as built, and as embedded.\npub(crate) const SIZES: (usize, usize) = ({raw_total}, {stored_total});"
    );
    Ok(table)
}

/// The page embedded when the front end could not be built.
const PLACEHOLDER_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="pharos-route-prefix" content="__PHAROS_ROUTE_PREFIX__">
<title>Pharos: web UI not built</title>
<style>body{font-family:system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem;line-height:1.5}code{background:#eee;padding:0 .25rem}</style>
</head>
<body>
<h1 data-testid="page-title">The web UI was not built</h1>
<p>This <code>pharos</code> binary was compiled without its web UI, because Node.js and npm were
not available (or the front end failed to build) when it was compiled.</p>
<p>To get the UI, install Node.js 20 or newer with npm, then rebuild: <code>cargo build --release</code>.
The build runs <code>npm ci</code> and <code>npm run build</code> in <code>ui/</code> by itself.</p>
<p>The HTTP API works without it: try <a href="api/v1/status/buildinfo">api/v1/status/buildinfo</a>
and <a href="metrics">metrics</a>.</p>
</body>
</html>
"#;

fn write_placeholder(out_dir: &Path) -> String {
    let blob = out_dir.join("ui-placeholder.html");
    if fs::read_to_string(&blob).ok().as_deref() != Some(PLACEHOLDER_HTML) {
        if let Err(e) = fs::write(&blob, PLACEHOLDER_HTML) {
            panic!("writing {}: {e}", blob.display());
        }
    }
    format!(
        "/// Whether the real front end was embedded.\npub(crate) const BUILT: bool = false;\n\
         /// The embedded files, sorted by path.\npub(crate) static FILES: &[EmbeddedFile] = &[\n    \
         EmbeddedFile {{ path: \"index.html\", data: include_bytes!({:?}), gzipped: false, raw_len: {} }},\n];\n\
         /// Bytes of the files as built, and as embedded.\npub(crate) const SIZES: (usize, usize) = ({1}, {1});\n",
        blob.display().to_string(),
        PLACEHOLDER_HTML.len()
    )
}
