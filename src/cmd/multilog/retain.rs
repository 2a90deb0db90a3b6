//! Retention for directories with the settings of issue 16 (`C`, `g`):
//! the archives are counted as 0.76 counts them (every name that starts
//! with `@` and has 25 bytes or more), but a file and its compressed form
//! (`NAME` and `NAME.gz`, both present for a moment while an archive is
//! compressed) are one archive, and `C` caps their total size. The oldest
//! archives (by name, which is time order) go first, both forms at once.
//! Directories without those settings keep 0.76's `filesfit`.

use std::os::fd::OwnedFd;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::UnlinkatFlags;

/// A file that counts as an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: Vec<u8>,
    pub size: u64,
}

/// Whether a name counts as an archive (0.76's rule).
pub fn is_archive(name: &[u8]) -> bool {
    name.first() == Some(&b'@') && name.len() >= 25
}

/// The archive a file belongs to: its name without `.gz`.
pub fn stem(name: &[u8]) -> &[u8] {
    name.strip_suffix(b".gz")
        .filter(|s| is_archive(s))
        .unwrap_or(name)
}

/// The files to remove, oldest archive first, so that fewer than `num`
/// archives remain and (if `cap` is not 0) they take at most `cap` bytes.
pub fn to_remove(entries: &[Entry], num: u64, cap: u64) -> Vec<Vec<u8>> {
    let mut files: Vec<&Entry> = entries.iter().filter(|e| is_archive(&e.name)).collect();
    files.sort_by(|a, b| stem(&a.name).cmp(stem(&b.name)).then(a.name.cmp(&b.name)));
    // Archives: runs of files with the same stem (stem, total size, files).
    type Archive<'e> = (&'e [u8], u64, Vec<&'e [u8]>);
    let mut archives: Vec<Archive> = Vec::new();
    for f in files {
        match archives.last_mut() {
            Some((s, size, names)) if *s == stem(&f.name) => {
                *size = size.saturating_add(f.size);
                names.push(&f.name);
            }
            _ => archives.push((stem(&f.name), f.size, vec![&f.name])),
        }
    }
    let mut count = archives.len() as u64;
    let mut total = archives.iter().fold(0u64, |t, a| t.saturating_add(a.1));
    let mut out = Vec::new();
    for (_, size, names) in archives {
        if count < num && (cap == 0 || total <= cap) {
            break;
        }
        out.extend(names.iter().map(|n| n.to_vec()));
        count -= 1;
        total -= size;
    }
    out
}

/// The archive files of the directory `dir` with their sizes.
pub fn list(dir: &OwnedFd) -> Result<Vec<Entry>, Errno> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let mut d = nix::dir::Dir::openat(dir, ".", flags, Mode::empty())?;
    let mut out = Vec::new();
    for ent in d.iter() {
        let ent = ent?;
        let name = ent.file_name().to_bytes();
        if !is_archive(name) {
            continue;
        }
        // A file removed since the listing began is not counted.
        match nix::sys::stat::fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => out.push(Entry {
                name: name.to_vec(),
                size: st.st_size as u64,
            }),
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Removes old archives of `dir` until fewer than `num` remain within
/// `cap` bytes. Err when the directory cannot be read.
pub fn trim(dir: &OwnedFd, num: u64, cap: u64) -> Result<(), Errno> {
    for name in to_remove(&list(dir)?, num, cap) {
        // 0.76 ignores unlink errors here too.
        let _ = nix::unistd::unlinkat(dir, &name[..], UnlinkatFlags::NoRemoveDir);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn e(name: &str, size: u64) -> Entry {
        Entry {
            name: name.as_bytes().to_vec(),
            size,
        }
    }

    fn names(v: Vec<Vec<u8>>) -> Vec<String> {
        v.into_iter()
            .map(|n| String::from_utf8(n).unwrap())
            .collect()
    }

    const A: &str = "@400000006b0f3f100000000a.s";
    const B: &str = "@400000006b0f3f200000000a.u";
    const C: &str = "@400000006b0f3f300000000a.s";

    #[test]
    fn a_file_and_its_compressed_form_are_one_archive() {
        let gz = |n: &str| format!("{n}.gz");
        let list = vec![
            e(C, 100),
            e(&gz(A), 10),
            e(A, 100),
            e(&gz(B), 20),
            e("@short", 5),
            e("current", 1000),
        ];
        // Three archives: n4 keeps them, n3 removes A in both forms.
        assert!(to_remove(&list, 4, 0).is_empty());
        assert_eq!(names(to_remove(&list, 3, 0)), vec![A.to_string(), gz(A)]);
        assert_eq!(
            names(to_remove(&list, 2, 0)),
            vec![A.to_string(), gz(A), gz(B)]
        );
        // The cap counts every file: 230 bytes.
        assert!(to_remove(&list, 100, 230).is_empty());
        assert_eq!(
            names(to_remove(&list, 100, 229)),
            vec![A.to_string(), gz(A)]
        );
        assert_eq!(
            names(to_remove(&list, 100, 119)),
            vec![A.to_string(), gz(A), gz(B)]
        );
        assert_eq!(to_remove(&list, 100, 1).len(), 4);
    }

    #[test]
    fn foreign_names_count_as_in_076() {
        let list = vec![
            e("@0000000000000000000000000-foo", 1),
            e("@zzzzzzzzzzzzzzzzzzzzzzzzzzz", 1),
            e(A, 1),
        ];
        assert_eq!(
            names(to_remove(&list, 2, 0)),
            vec!["@0000000000000000000000000-foo".to_string(), A.to_string()]
        );
        assert_eq!(stem(b"@x.gz"), b"@x.gz");
    }

    proptest! {
        #[test]
        fn what_remains_fits_and_is_the_newest(
            sizes in prop::collection::vec((0u64..1000, any::<bool>(), any::<bool>()), 0..30),
            num in 2u64..40,
            cap in prop::option::of(1u64..20_000),
        ) {
            let mut list = Vec::new();
            for (i, &(size, plain, gz)) in sizes.iter().enumerate() {
                let name = format!("@4000000000000000{i:08x}.s");
                if plain || !gz {
                    list.push(e(&name, size));
                }
                if gz {
                    list.push(e(&format!("{name}.gz"), size / 3));
                }
            }
            let gone = to_remove(&list, num, cap.unwrap_or(0));
            let left: Vec<&Entry> = list.iter().filter(|f| !gone.contains(&f.name)).collect();
            let mut stems: Vec<&[u8]> = left.iter().map(|f| stem(&f.name)).collect();
            stems.dedup();
            let total: u64 = left.iter().map(|f| f.size).sum();
            prop_assert!((stems.len() as u64) < num);
            if let Some(cap) = cap {
                prop_assert!(total <= cap);
            }
            // Whole archives go, the oldest ones: every stem removed is
            // older than every stem kept.
            for g in &gone {
                prop_assert!(!left.iter().any(|f| stem(&f.name) == stem(g)));
                prop_assert!(left.iter().all(|f| stem(&f.name) > stem(g)));
            }
        }
    }
}
