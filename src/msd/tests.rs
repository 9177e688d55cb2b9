//! Images, names and the LUN's attributes, on a temporary directory standing in for configfs
//! (the real mass-storage function is driven in tests/hw.rs).

use super::*;

fn setup(max: u64) -> (tempfile::TempDir, Msd, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let lun = t.path().join("lun.0");
    std::fs::create_dir_all(&lun).unwrap();
    for a in ["cdrom", "ro", "file"] {
        std::fs::write(lun.join(a), "").unwrap();
    }
    let msd = Msd::new(t.path().join("images"), Some(lun.clone()), max).unwrap();
    (t, msd, lun)
}

fn upload(msd: &Msd, name: &str, bytes: &[u8]) -> Result<Image, MsdError> {
    let mut up = msd.begin_upload(name, None)?;
    for c in bytes.chunks(7) {
        up.write(c)?;
    }
    up.finish()
}

#[test]
fn names_are_never_paths() {
    for ok in ["debian-12.iso", "a", "Win11_23H2.img", "x.y.z"] {
        assert!(check_name(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "../etc/passwd",
        "/etc/passwd",
        ".hidden",
        "a/b",
        "a..b",
        "-x",
        "a b",
        "a\\b",
        &"x".repeat(129),
    ] {
        assert!(
            matches!(check_name(bad), Err(MsdError::BadName(_))),
            "{bad}"
        );
    }
}

#[test]
fn an_upload_is_hashed_named_when_complete_and_listed() {
    let (_t, msd, _) = setup(1000);
    let img = upload(&msd, "boot.iso", b"hello world").unwrap();
    // sha256("hello world")
    let want = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";
    assert_eq!((img.size, img.sha256.as_deref()), (11, Some(want)));
    let list = msd.list();
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0].name.as_str(), list[0].sha256.as_deref()),
        ("boot.iso", Some(want))
    );
    // The same name again: refused, the first one kept.
    assert!(matches!(
        upload(&msd, "boot.iso", b"x"),
        Err(MsdError::Conflict(_))
    ));
    assert_eq!(msd.list()[0].size, 11);
}

#[test]
fn an_oversized_or_abandoned_upload_leaves_nothing() {
    let (t, msd, _) = setup(10);
    assert!(matches!(
        msd.begin_upload("big.iso", Some(11)),
        Err(MsdError::TooLarge(10))
    ));
    assert!(matches!(
        upload(&msd, "big.iso", b"0123456789A"),
        Err(MsdError::TooLarge(10))
    ));
    {
        let mut up = msd.begin_upload("half.iso", None).unwrap();
        up.write(b"abc").unwrap();
        assert_eq!(msd.status()["uploads"][0]["received"], 3);
        // A second upload of the same name meanwhile is refused.
        assert!(matches!(
            msd.begin_upload("half.iso", None),
            Err(MsdError::Conflict(_))
        ));
    } // dropped: the client went away
    assert!(msd.list().is_empty());
    let left: Vec<_> = std::fs::read_dir(t.path().join("images"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n != ".meta")
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(msd.status()["uploads"].as_array().map(Vec::len), Some(0));
}

#[test]
fn attach_writes_the_lun_one_image_at_a_time_and_eject_frees_it() {
    let (_t, msd, lun) = setup(1000);
    upload(&msd, "a.iso", b"aaaa").unwrap();
    upload(&msd, "b.img", b"bbbb").unwrap();
    assert!(matches!(
        msd.attach("nope.iso", Mode::Cdrom),
        Err(MsdError::NotFound(_))
    ));
    assert!(matches!(
        msd.attach("../a.iso", Mode::Cdrom),
        Err(MsdError::BadName(_))
    ));
    msd.attach("a.iso", Mode::Cdrom).unwrap();
    let read = |a: &str| std::fs::read_to_string(lun.join(a)).unwrap();
    assert_eq!((read("cdrom").as_str(), read("ro").as_str()), ("1", "1"));
    assert!(read("file").ends_with("/images/a.iso"), "{}", read("file"));
    // Too soon, then a second attach: refused, the first stays.
    assert!(matches!(
        msd.attach("b.img", Mode::Disk),
        Err(MsdError::TooSoon)
    ));
    std::thread::sleep(MIN_INTERVAL);
    assert!(matches!(
        msd.attach("b.img", Mode::Disk),
        Err(MsdError::Conflict(_))
    ));
    assert!(matches!(msd.delete("a.iso"), Err(MsdError::Conflict(_))));
    assert!(read("file").ends_with("/images/a.iso"));
    let ejected = msd.eject().unwrap();
    assert_eq!(ejected.map(|a| a.name), Some("a.iso".into()));
    assert_eq!(read("file"), "");
    std::thread::sleep(MIN_INTERVAL);
    msd.attach("b.img", Mode::Disk).unwrap();
    assert_eq!((read("cdrom").as_str(), read("ro").as_str()), ("0", "0"));
    assert_eq!(msd.status()["attached"]["mode"], "disk");
    std::thread::sleep(MIN_INTERVAL);
    msd.delete("a.iso").unwrap();
    assert_eq!(msd.list().len(), 1);
}

#[test]
fn without_a_mass_storage_function_attach_is_not_found() {
    let t = tempfile::tempdir().unwrap();
    let msd = Msd::new(t.path().join("images"), None, 100).unwrap();
    upload(&msd, "a.iso", b"a").unwrap();
    assert!(matches!(
        msd.attach("a.iso", Mode::Cdrom),
        Err(MsdError::NotFound(_))
    ));
    assert_eq!(msd.status()["enabled"], false);
}
