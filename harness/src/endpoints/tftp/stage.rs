//! Putting a recovery package where the TFTP server serves it to one bench.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::jail::check_name;

/// (Re)creates `<root>/<bench>/` holding exactly `files`: (name served, source file).
/// Each file is hard-linked when the source is on the same file system, else copied;
/// never symlinked, since the server refuses symlinks leading out of the folder.
pub fn stage(root: &Path, bench: &str, files: &[(String, PathBuf)]) -> io::Result<()> {
    let invalid = |what: &str, name: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} {name:?} cannot be a plain file name in the TFTP folder"),
        )
    };
    if bench.contains('/') || check_name(bench).is_err() {
        return Err(invalid("bench name", bench));
    }
    for (name, _) in files {
        if name.contains('/') || check_name(name).is_err() {
            return Err(invalid("served name", name));
        }
    }
    let folder = root.join(bench);
    match fs::remove_dir_all(&folder) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(with_path(error, "cannot clear", &folder)),
    }
    fs::create_dir_all(&folder).map_err(|e| with_path(e, "cannot create", &folder))?;
    for (name, source) in files {
        let target = folder.join(name);
        if fs::hard_link(source, &target).is_err() {
            // Another file system (fixtures in the checkout, the folder in /tmp), or a
            // file system without hard links: a copy serves the same bytes.
            fs::copy(source, &target).map_err(|e| with_path(e, "cannot copy", source))?;
        }
    }
    Ok(())
}

fn with_path(error: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(error.kind(), format!("{what} {}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restaging_leaves_exactly_the_new_files() {
        let sources = tempfile::tempdir().unwrap();
        let a = sources.path().join("a");
        let b = sources.path().join("b");
        fs::write(&a, b"first").unwrap();
        fs::write(&b, b"second").unwrap();
        let root = tempfile::tempdir().unwrap();

        stage(root.path(), "t46g", &[("T46G.rom".into(), a.clone())]).unwrap();
        stage(root.path(), "t46g", &[("T46G.bin".into(), b.clone())]).unwrap();
        let mut left: Vec<_> = fs::read_dir(root.path().join("t46g"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["T46G.bin"]);
        assert_eq!(
            fs::read(root.path().join("t46g/T46G.bin")).unwrap(),
            b"second"
        );
        assert!(
            !fs::symlink_metadata(root.path().join("t46g/T46G.bin"))
                .unwrap()
                .file_type()
                .is_symlink()
        );

        for (bench, name) in [("../up", "x"), ("t46g", "../x"), ("t46g", "a/b"), ("", "x")] {
            let error = stage(root.path(), bench, &[(name.into(), a.clone())]).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{bench} {name}");
        }
        let error = stage(
            root.path(),
            "t46g",
            &[("T46G.rfs".into(), sources.path().join("none"))],
        )
        .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
    }
}
