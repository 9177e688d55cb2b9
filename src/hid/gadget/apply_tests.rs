//! `apply`, `bind`, `status` and `teardown` against a fake system tree in a tempdir.

use super::*;
use crate::hid::gadget::descriptors;
use crate::hid::gadget::plan::{plan, FunctionSpec, GadgetSpec};

/// A root with configfs' usb_gadget directory and one UDC, like dummy_hcd's.
fn fake_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join(GADGETS_DIR)).unwrap();
    let udc = dir.path().join(UDC_CLASS_DIR).join("dummy_udc.0");
    fs::create_dir_all(&udc).unwrap();
    fs::write(udc.join("state"), "configured\n").unwrap();
    dir
}

fn kbd_mouse() -> Plan {
    plan(&GadgetSpec::new(
        vec![FunctionSpec::Keyboard, FunctionSpec::MouseAbs],
        8,
        "auto",
    ))
    .unwrap()
}

#[test]
fn apply_writes_attributes_and_links_functions_into_the_config() {
    let root = fake_root();
    let p = kbd_mouse();
    apply(&p, root.path()).unwrap();
    let g = root.path().join(GADGET_DIR);
    assert_eq!(fs::read_to_string(g.join("idVendor")).unwrap(), "0x1d6b");
    assert_eq!(
        fs::read_to_string(g.join("strings/0x409/product")).unwrap(),
        "periscope KVM"
    );
    let kbd = g.join("functions/hid.keyboard");
    assert_eq!(fs::read_to_string(kbd.join("report_length")).unwrap(), "8");
    assert_eq!(
        fs::read_to_string(kbd.join("no_out_endpoint")).unwrap(),
        "1"
    );
    assert_eq!(
        fs::read(kbd.join("report_desc")).unwrap(),
        descriptors::KEYBOARD.descriptor
    );
    for f in ["hid.keyboard", "hid.mouse_abs"] {
        let link = g.join("configs/c.1").join(f);
        assert!(link.is_symlink(), "{f}");
        let target = fs::read_link(&link).unwrap();
        assert!(target.is_absolute(), "configfs needs absolute targets");
        assert_eq!(target, g.join("functions").join(f));
    }
    // A second apply refuses instead of mixing two gadgets.
    assert!(matches!(
        apply(&p, root.path()),
        Err(GadgetError::Exists(_))
    ));
}

#[test]
fn apply_without_configfs_says_what_to_load() {
    let root = tempfile::tempdir().unwrap();
    let e = apply(&kbd_mouse(), root.path()).unwrap_err();
    assert!(e.to_string().contains("modprobe libcomposite"), "{e}");
    assert!(!root.path().join(GADGET_DIR).exists(), "nothing written");
}

#[test]
fn bind_status_teardown() {
    let root = fake_root();
    apply(&kbd_mouse(), root.path()).unwrap();
    let g = root.path().join(GADGET_DIR);
    // Not bound yet.
    let s = status(root.path());
    assert!(s.present && s.udc.is_none() && !s.host_connected(), "{s:?}");
    assert_eq!(bind(root.path(), "auto").unwrap(), "dummy_udc.0");
    assert_eq!(fs::read_to_string(g.join("UDC")).unwrap(), "dummy_udc.0");
    // f_hid's dev attribute names the node.
    fs::write(g.join("functions/hid.keyboard/dev"), "239:0\n").unwrap();
    fs::write(g.join("functions/hid.mouse_abs/dev"), "239:1\n").unwrap();
    let s = status(root.path());
    assert_eq!(s.udc.as_deref(), Some("dummy_udc.0"));
    assert_eq!(s.state.as_deref(), Some("configured"));
    assert!(s.host_connected());
    assert_eq!(
        s.functions,
        vec![
            (
                "hid.keyboard".to_string(),
                Some(root.path().join("dev/hidg0"))
            ),
            (
                "hid.mouse_abs".to_string(),
                Some(root.path().join("dev/hidg1"))
            ),
        ]
    );
    let text = s.to_string();
    assert!(
        text.starts_with("usb gadget periscope: bound to dummy_udc.0, state configured"),
        "{text}"
    );
    fs::write(
        root.path().join(UDC_CLASS_DIR).join("dummy_udc.0/state"),
        "not attached\n",
    )
    .unwrap();
    assert_eq!(status(root.path()).state.as_deref(), Some("not attached"));

    assert!(teardown(root.path()).unwrap());
    assert!(!g.exists());
    assert!(root.path().join(GADGETS_DIR).is_dir(), "only ours removed");
    assert!(!teardown(root.path()).unwrap(), "nothing left to remove");
    assert_eq!(
        status(root.path()).to_string(),
        "usb gadget periscope: not set up"
    );
}

#[test]
fn unbind_writes_a_newline() {
    let root = fake_root();
    apply(&kbd_mouse(), root.path()).unwrap();
    bind(root.path(), "dummy_udc.0").unwrap();
    unbind(root.path()).unwrap();
    let udc = root.path().join(GADGET_DIR).join("UDC");
    assert_eq!(fs::read_to_string(udc).unwrap(), "\n");
    assert_eq!(status(root.path()).udc, None);
}

#[test]
fn bind_errors_are_clear() {
    let root = fake_root();
    apply(&kbd_mouse(), root.path()).unwrap();
    let e = bind(root.path(), "fe980000.usb").unwrap_err();
    assert_eq!(
        e.to_string(),
        "usb gadget: udc \"fe980000.usb\" not found; available: dummy_udc.0"
    );
    // Another gadget holds the controller.
    let other = root.path().join(GADGETS_DIR).join("lab");
    fs::create_dir_all(&other).unwrap();
    fs::write(other.join("UDC"), "dummy_udc.0\n").unwrap();
    let e = bind(root.path(), "auto").unwrap_err();
    assert!(
        e.to_string().contains("gadget \"lab\" is bound to it"),
        "{e}"
    );
    // No controller at all.
    fs::remove_dir_all(root.path().join(UDC_CLASS_DIR)).unwrap();
    let e = bind(root.path(), "auto").unwrap_err();
    assert!(e.to_string().contains("peripheral mode"), "{e}");
}

#[test]
fn dev_attribute_parsing() {
    assert_eq!(parse_dev("239:3\n"), Some((239, 3)));
    assert_eq!(parse_dev("nonsense"), None);
    assert_eq!(parse_dev("1:x"), None);
    let root = fake_root();
    assert!(hidg_node(root.path(), "hid.keyboard").is_err());
}

#[test]
fn io_errors_carry_hints() {
    let e = io_err(
        "write",
        Path::new("/x/functions/hid.keyboard/no_out_endpoint"),
        io::Error::from(io::ErrorKind::NotFound),
    );
    assert!(e.to_string().contains("Linux 5.19"), "{e}");
    let e = io_err(
        "mkdir",
        Path::new("/x/functions/hid.k4"),
        io::Error::from_raw_os_error(19),
    );
    assert!(e.to_string().contains("4 minors"), "{e}");
    let e = io_err(
        "mkdir",
        Path::new("/x/functions/ncm.usb0"),
        io::Error::from(io::ErrorKind::NotFound),
    );
    assert!(e.to_string().contains("usb_f_ncm"), "{e}");
    let e = io_err(
        "mkdir",
        Path::new("/x"),
        io::Error::from(io::ErrorKind::PermissionDenied),
    );
    assert!(e.to_string().ends_with("(run as root)"), "{e}");
}
