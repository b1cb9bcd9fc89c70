//! An export as a set of named files: a zip file or an unpacked folder, read under limits.
//!
//! A zip is checked as a whole when it is opened, before anything is decompressed: every name
//! must be relative without `..` (or a drive or a root), no entry may be a link, and the sizes
//! the archive declares must stay under [`Limits`] (each file, the total, the number of files and
//! the compression ratio, the sign of a zip bomb). Reading then stops at the declared size, so
//! an entry that lies about its size cannot grow past it. A folder is walked without following
//! links, under the same limits.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::{Error, Result};

/// Size limits of an export.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most files in the archive.
    pub max_entries: usize,
    /// Largest file (uncompressed).
    pub max_entry_bytes: u64,
    /// Largest total (uncompressed).
    pub max_total_bytes: u64,
    /// Largest ratio of uncompressed to compressed size of an entry of more than 1 MiB.
    pub max_ratio: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 1_000_000,
            max_entry_bytes: 256 * 1024 * 1024,
            max_total_bytes: 64 * 1024 * 1024 * 1024,
            max_ratio: 200,
        }
    }
}

/// Entries smaller than this are not held to the ratio (a tiny JSON file compresses well).
const RATIO_FLOOR: u64 = 1024 * 1024;

enum Inner {
    Dir(PathBuf),
    Zip(Box<zip::ZipArchive<File>>),
}

/// A readable export.
pub struct Archive {
    inner: Inner,
    /// Name (with `/` separators) → declared size.
    entries: BTreeMap<String, u64>,
    label: String,
}

/// Whether a name inside an archive is a plain relative path.
fn safe_name(name: &str) -> bool {
    if name.is_empty() || name.contains('\\') || name.contains('\0') {
        return false;
    }
    Path::new(name)
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

impl Archive {
    /// Opens a zip file or a folder.
    pub fn open(path: &Path, limits: Limits) -> Result<Self> {
        let meta = std::fs::symlink_metadata(path).map_err(|e| Error::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        if meta.is_dir() {
            Self::open_dir(path, limits)
        } else {
            Self::open_zip(path, limits)
        }
    }

    fn open_zip(path: &Path, limits: Limits) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        let mut zip = zip::ZipArchive::new(file).map_err(|e| Error::Zip(e.to_string()))?;
        if zip.len() > limits.max_entries {
            return Err(Error::Refused(format!(
                "{} files (at most {})",
                zip.len(),
                limits.max_entries
            )));
        }
        let mut entries = BTreeMap::new();
        let mut total: u64 = 0;
        for i in 0..zip.len() {
            let e = zip.by_index_raw(i).map_err(|e| Error::Zip(e.to_string()))?;
            let name = e
                .name()
                .map_err(|_| {
                    Error::Refused(format!("entry {i} has a name that cannot be decoded"))
                })?
                .into_owned();
            if !safe_name(&name) {
                return Err(Error::Refused(format!("unsafe file name {name:?}")));
            }
            if e.is_symlink() {
                return Err(Error::Refused(format!("{name} is a link")));
            }
            if e.is_dir() {
                continue;
            }
            let size = e.size();
            if size > limits.max_entry_bytes {
                return Err(Error::Refused(format!(
                    "{name} declares {size} bytes (at most {} per file)",
                    limits.max_entry_bytes
                )));
            }
            if size > RATIO_FLOOR && size / e.compressed_size().max(1) > limits.max_ratio {
                return Err(Error::Refused(format!(
                    "{name} expands {}-fold (at most {}): a zip bomb",
                    size / e.compressed_size().max(1),
                    limits.max_ratio
                )));
            }
            total = total.saturating_add(size);
            if total > limits.max_total_bytes {
                return Err(Error::Refused(format!(
                    "the files declare more than {} bytes in all",
                    limits.max_total_bytes
                )));
            }
            entries.insert(name.trim_start_matches("./").to_owned(), size);
        }
        Ok(Archive {
            inner: Inner::Zip(Box::new(zip)),
            entries,
            label: path.display().to_string(),
        })
    }

    fn open_dir(root: &Path, limits: Limits) -> Result<Self> {
        let mut entries = BTreeMap::new();
        let mut total: u64 = 0;
        let mut stack = vec![PathBuf::new()];
        while let Some(rel) = stack.pop() {
            let dir = root.join(&rel);
            let read = std::fs::read_dir(&dir).map_err(|e| Error::Io {
                path: dir.display().to_string(),
                source: e,
            })?;
            for item in read {
                let item = item.map_err(|e| Error::Io {
                    path: dir.display().to_string(),
                    source: e,
                })?;
                let ft = item.file_type().map_err(|e| Error::Io {
                    path: item.path().display().to_string(),
                    source: e,
                })?;
                let Some(name) = item.file_name().to_str().map(str::to_owned) else {
                    return Err(Error::Refused(format!(
                        "{} has a name that is not UTF-8",
                        item.path().display()
                    )));
                };
                let child = rel.join(&name);
                if ft.is_symlink() {
                    return Err(Error::Refused(format!("{} is a link", child.display())));
                }
                if ft.is_dir() {
                    stack.push(child);
                    continue;
                }
                let size = item
                    .metadata()
                    .map_err(|e| Error::Io {
                        path: item.path().display().to_string(),
                        source: e,
                    })?
                    .len();
                if size > limits.max_entry_bytes {
                    return Err(Error::Refused(format!(
                        "{} has {size} bytes (at most {} per file)",
                        child.display(),
                        limits.max_entry_bytes
                    )));
                }
                total = total.saturating_add(size);
                if total > limits.max_total_bytes || entries.len() >= limits.max_entries {
                    return Err(Error::Refused("the folder is too large".into()));
                }
                let key = child
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                entries.insert(key, size);
            }
        }
        Ok(Archive {
            inner: Inner::Dir(root.to_owned()),
            entries,
            label: root.display().to_string(),
        })
    }

    /// What the export is called in messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Every file's name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Whether the export holds `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// The bytes of `name` (`None` when there is no such file). Never more than the size the
    /// export declared for it.
    pub fn read(&mut self, name: &str) -> Result<Option<Vec<u8>>> {
        let Some(&size) = self.entries.get(name) else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(size.min(64 * 1024 * 1024) as usize);
        let io = |e: std::io::Error| Error::Io {
            path: name.to_owned(),
            source: e,
        };
        match &mut self.inner {
            Inner::Dir(root) => {
                let f = File::open(root.join(name)).map_err(io)?;
                f.take(size + 1).read_to_end(&mut out).map_err(io)?;
            }
            Inner::Zip(zip) => {
                let f = zip.by_name(name).map_err(|e| Error::Zip(e.to_string()))?;
                f.take(size + 1).read_to_end(&mut out).map_err(io)?;
            }
        }
        if out.len() as u64 > size {
            return Err(Error::Refused(format!(
                "{name} holds more bytes than it declares"
            )));
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_with(
        entries: &[(&str, &[u8])],
        method: zip::CompressionMethod,
    ) -> tempfile::NamedTempFile {
        let tmp = tempfile::NamedTempFile::new().expect("temp file");
        let mut w = zip::ZipWriter::new(tmp.reopen().expect("reopen"));
        for (name, bytes) in entries {
            w.start_file(
                *name,
                zip::write::SimpleFileOptions::default().compression_method(method),
            )
            .expect("start");
            w.write_all(bytes).expect("write");
        }
        w.finish().expect("finish");
        tmp
    }

    #[test]
    fn names_that_climb_out_are_refused() {
        for bad in ["../evil.json", "a/../../evil.json", "/etc/passwd"] {
            let z = zip_with(&[(bad, b"[]")], zip::CompressionMethod::Stored);
            match Archive::open(z.path(), Limits::default()) {
                Err(Error::Refused(why)) => assert!(why.contains("unsafe"), "{why}"),
                other => panic!("{bad}: {:?}", other.map(|a| a.label().to_owned())),
            }
        }
        assert!(!safe_name("a\\..\\b"));
        assert!(safe_name("general/2024-01-01.json"));
    }

    #[test]
    fn a_zip_bomb_is_refused_before_decompression() {
        let zeros = vec![0u8; 8 * 1024 * 1024];
        let z = zip_with(&[("users.json", &zeros)], zip::CompressionMethod::Deflated);
        match Archive::open(z.path(), Limits::default()) {
            Err(Error::Refused(why)) => assert!(why.contains("zip bomb"), "{why}"),
            other => panic!("{:?}", other.map(|a| a.label().to_owned())),
        }
        let limits = Limits {
            max_entry_bytes: 1024,
            ..Limits::default()
        };
        let z = zip_with(
            &[("users.json", &[b' '; 2048])],
            zip::CompressionMethod::Stored,
        );
        assert!(matches!(
            Archive::open(z.path(), limits),
            Err(Error::Refused(_))
        ));
    }

    #[test]
    fn reads_a_zip_and_a_folder_alike() {
        let z = zip_with(
            &[("users.json", b"[]"), ("general/2024-01-01.json", b"[1]")],
            zip::CompressionMethod::Deflated,
        );
        let mut a = Archive::open(z.path(), Limits::default()).expect("open");
        assert_eq!(
            a.names().collect::<Vec<_>>(),
            ["general/2024-01-01.json", "users.json"]
        );
        assert_eq!(
            a.read("general/2024-01-01.json").expect("read"),
            Some(b"[1]".to_vec())
        );
        assert_eq!(a.read("missing.json").expect("read"), None);

        let dir = tempfile::tempdir().expect("dir");
        std::fs::create_dir(dir.path().join("general")).expect("mkdir");
        std::fs::write(dir.path().join("general/2024-01-01.json"), b"[1]").expect("write");
        let mut a = Archive::open(dir.path(), Limits::default()).expect("open");
        assert_eq!(
            a.read("general/2024-01-01.json").expect("read"),
            Some(b"[1]".to_vec())
        );
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/etc/passwd", dir.path().join("users.json")).expect("link");
            assert!(matches!(
                Archive::open(dir.path(), Limits::default()),
                Err(Error::Refused(_))
            ));
        }
    }
}
