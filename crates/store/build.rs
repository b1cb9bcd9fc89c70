//! Lists the PostgreSQL migrations (`migrations/postgres/NNNN_description.sql`) for
//! `postgres::migrator()`, which embeds them, so that adding a file is all a migration takes.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    // Read at run time, not baked in with `env!`: a build script compiled in another checkout
    // (a copied target folder) must still list this checkout's files.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&manifest_dir).join("migrations/postgres");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("migrations/postgres is readable") {
        let path = entry.expect("a directory entry").path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(stem) = name.strip_suffix(".sql") else {
            continue;
        };
        let (version, description) = stem
            .split_once('_')
            .unwrap_or_else(|| panic!("{name}: expected NNNN_description.sql"));
        let version: i64 = version
            .parse()
            .unwrap_or_else(|_| panic!("{name}: expected NNNN_description.sql"));
        println!("cargo:rerun-if-changed={}", path.display());
        found.push((version, description.replace('_', " "), path));
    }
    found.sort_by_key(|(v, _, _)| *v);
    for pair in found.windows(2) {
        assert_ne!(
            pair[0].0, pair[1].0,
            "two migrations with version {}",
            pair[0].0
        );
    }
    let mut out = String::from("&[\n");
    for (version, description, path) in &found {
        writeln!(
            out,
            "    ({version}, {description:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .expect("writing to a String");
    }
    out.push(']');
    let target =
        Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR is set")).join("pg_migrations.rs");
    std::fs::write(target, out).expect("OUT_DIR is writable");
}
