//! Test vectors for `plan`: exact operation lists, budget refusals and their messages.

use super::*;
use crate::hid::gadget::descriptors;

fn w(path: &str, value: &str) -> Op {
    Op::Write {
        path: path.into(),
        value: value.as_bytes().to_vec(),
    }
}

fn d(path: &str) -> Op {
    Op::Mkdir(path.into())
}

fn msd() -> FunctionSpec {
    FunctionSpec::from_name("mass_storage").unwrap()
}

#[test]
fn keyboard_and_absolute_mouse_exact_ops() {
    let spec = GadgetSpec::new(
        vec![FunctionSpec::Keyboard, FunctionSpec::MouseAbs],
        8,
        "auto",
    );
    let p = plan(&spec).unwrap();
    let bcd = format!("{:#06x}", bcd_device(&spec.functions));
    let mut want = vec![
        d(""),
        w("idVendor", "0x1d6b"),
        w("idProduct", "0x0104"),
        w("bcdDevice", &bcd),
        w("bcdUSB", "0x0200"),
        d("strings"),
        d("strings/0x409"),
        w("strings/0x409/manufacturer", "periscope"),
        w("strings/0x409/product", "periscope KVM"),
        w("strings/0x409/serialnumber", "periscope"),
        d("configs"),
        d("configs/c.1"),
        d("configs/c.1/strings"),
        d("configs/c.1/strings/0x409"),
        w("configs/c.1/strings/0x409/configuration", "periscope"),
        w("configs/c.1/bmAttributes", "0x80"),
        w("configs/c.1/MaxPower", "250"),
        d("functions"),
    ];
    for (name, proto, sub, len, desc) in [
        ("keyboard", "1", "1", "8", descriptors::KEYBOARD.descriptor),
        (
            "mouse_abs",
            "0",
            "0",
            "7",
            descriptors::MOUSE_ABS.descriptor,
        ),
    ] {
        let f = format!("functions/hid.{name}");
        want.push(d(&f));
        want.push(w(&format!("{f}/protocol"), proto));
        want.push(w(&format!("{f}/subclass"), sub));
        want.push(w(&format!("{f}/report_length"), len));
        want.push(w(&format!("{f}/no_out_endpoint"), "1"));
        want.push(Op::Write {
            path: format!("{f}/report_desc").into(),
            value: desc.to_vec(),
        });
    }
    for name in ["keyboard", "mouse_abs"] {
        want.push(Op::Symlink {
            target: format!("functions/hid.{name}").into(),
            link: format!("configs/c.1/hid.{name}").into(),
        });
    }
    assert_eq!(p.ops, want);
    assert_eq!(p.udc, "auto");
    assert_eq!(p.summary(), "keyboard 1, mouse_abs 1 = 2 of 8 endpoints");
    assert_eq!(
        p.ops[23].to_string(),
        "write functions/hid.keyboard/report_desc = <64 bytes>"
    );
    assert_eq!(
        p.ops.last().unwrap().to_string(),
        "symlink configs/c.1/hid.mouse_abs -> functions/hid.mouse_abs"
    );
}

#[test]
fn mass_storage_acm_and_ethernet_ops() {
    let spec = GadgetSpec::new(
        vec![
            FunctionSpec::Keyboard,
            FunctionSpec::MassStorage {
                file: "/var/lib/periscope/disk.img".into(),
                cdrom: true,
                read_only: true,
                removable: true,
            },
            FunctionSpec::Acm,
            FunctionSpec::Ncm,
        ],
        9,
        "fe980000.usb",
    );
    let p = plan(&spec).unwrap();
    assert_eq!(p.total(), 9);
    assert!(p.ops.contains(&w("bDeviceClass", "0xef")));
    let lun: Vec<&Op> = p
        .ops
        .iter()
        .filter(|o| format!("{o}").contains("lun.0"))
        .collect();
    assert_eq!(
        lun,
        vec![
            &d("functions/mass_storage.disk/lun.0"),
            &w("functions/mass_storage.disk/lun.0/cdrom", "1"),
            &w("functions/mass_storage.disk/lun.0/ro", "1"),
            &w("functions/mass_storage.disk/lun.0/removable", "1"),
            &w(
                "functions/mass_storage.disk/lun.0/file",
                "/var/lib/periscope/disk.img"
            ),
        ]
    );
    assert!(p.ops.contains(&d("functions/acm.usb0")));
    let host = mac_address("periscope", "ncm/host");
    assert!(p.ops.contains(&w("functions/ncm.usb0/host_addr", &host)));
    assert!(host.starts_with("02:") && host.len() == 17, "{host}");
    assert_ne!(host, mac_address("periscope", "ncm/dev"));
    // A removable disk with no medium writes no `file`.
    let p = plan(&GadgetSpec::new(vec![msd()], 8, "auto")).unwrap();
    assert!(!p.ops.iter().any(|o| o.to_string().contains("lun.0/file")));
}

#[test]
fn over_budget_is_refused_with_every_cost_and_what_to_drop() {
    use FunctionSpec::*;
    let spec = GadgetSpec::new(vec![Keyboard, MouseAbs, MouseRel, Acm, Ecm], 8, "auto");
    let e = plan(&spec).unwrap_err();
    assert_eq!(
        e.to_string(),
        "usb gadget needs 9 endpoints, the udc has 8: keyboard 1, mouse_abs 1, mouse_rel 1, \
         acm 3, ecm 3 — drop ecm (3) to fit"
    );
    // Needing 4 more: ecm then acm (mass storage stays, it is worth more than serial).
    let spec = GadgetSpec::new(vec![Keyboard, MouseAbs, msd(), Acm, Ecm], 6, "auto");
    let e = plan(&spec).unwrap_err();
    assert!(
        e.to_string().ends_with("drop ecm (3) and acm (3) to fit"),
        "{e}"
    );
    // Needing 1 with only HID and storage: the storage goes, the keyboard never first.
    let spec = GadgetSpec::new(vec![Keyboard, MouseAbs, MouseRel, msd()], 4, "auto");
    match plan(&spec).unwrap_err() {
        PlanError::OverBudget { drop, total, .. } => {
            assert_eq!(total, 5);
            assert_eq!(drop, vec![("mass_storage", 2)]);
        }
        other => panic!("{other}"),
    }
    // Exactly at the budget fits.
    assert!(plan(&GadgetSpec::new(
        vec![Keyboard, MouseAbs, Acm, Ecm],
        8,
        "auto"
    ))
    .is_ok());
}

#[test]
fn five_hid_functions_are_refused() {
    use FunctionSpec::*;
    let spec = GadgetSpec::new(
        vec![Keyboard, MouseAbs, MouseRel, Keyboard, MouseAbs],
        16,
        "auto",
    );
    let e = plan(&spec).unwrap_err();
    assert_eq!(e, PlanError::TooManyHid { count: 5 });
    assert!(e.to_string().contains("f_hid has only 4"), "{e}");
}

#[test]
fn other_refusals_name_the_field() {
    use FunctionSpec::*;
    assert_eq!(
        plan(&GadgetSpec::new(vec![], 8, "auto")).unwrap_err(),
        PlanError::NoFunctions
    );
    assert_eq!(
        plan(&GadgetSpec::new(vec![Keyboard, Keyboard], 8, "auto")).unwrap_err(),
        PlanError::Duplicate("keyboard")
    );
    let e = plan(&GadgetSpec::new(vec![Keyboard], 0, "auto")).unwrap_err();
    assert!(e.to_string().contains("endpoint_budget = \"0\""), "{e}");
    let e = plan(&GadgetSpec::new(vec![Keyboard], 8, "../x")).unwrap_err();
    assert!(e.to_string().contains("udc"), "{e}");
    let mut spec = GadgetSpec::new(vec![Keyboard], 8, "auto");
    spec.product = "a\nb".into();
    assert!(plan(&spec).unwrap_err().to_string().contains("product"));
    let spec = GadgetSpec::new(
        vec![MassStorage {
            file: "disk.img".into(),
            cdrom: false,
            read_only: false,
            removable: true,
        }],
        8,
        "auto",
    );
    assert!(plan(&spec).unwrap_err().to_string().contains("absolute"));
}

#[test]
fn names_round_trip_and_bcd_device_follows_the_function_set() {
    for name in FunctionSpec::NAMES {
        assert_eq!(FunctionSpec::from_name(name).unwrap().name(), *name);
    }
    assert!(FunctionSpec::from_name("mouse").is_none());
    use FunctionSpec::*;
    let a = bcd_device(&[Keyboard, MouseAbs]);
    assert_eq!(a, bcd_device(&[Keyboard, MouseAbs]), "stable");
    assert_ne!(a, bcd_device(&[Keyboard, MouseAbs, MouseRel]));
    assert_eq!(a & 0xff00, 0x0100);
    // Every function subset gives valid BCD (each nibble 0..=9): the kernel refuses others.
    let all: Vec<FunctionSpec> = FunctionSpec::NAMES
        .iter()
        .filter_map(|n| FunctionSpec::from_name(n))
        .collect();
    let mut seen = std::collections::HashSet::new();
    for mask in 1u32..(1 << all.len()) {
        let set: Vec<FunctionSpec> = (0..all.len())
            .filter(|i| mask & (1 << i) != 0)
            .map(|i| all[i].clone())
            .collect();
        let bcd = bcd_device(&set);
        for shift in [0, 4, 8, 12] {
            assert!((bcd >> shift) & 0xf <= 9, "{bcd:#06x} for {set:?}");
        }
        seen.insert(bcd);
    }
    assert!(seen.len() > 50, "spread: {} values", seen.len());
}
