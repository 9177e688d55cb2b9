//! What a system tree shows about the board, read once from `root` (`/`, a captured tree, or
//! a fake one in tests): device-tree model, compatible strings and the nodes overlays touch,
//! video4linux devices with their drivers and USB ids, I²C devices bound to a driver, USB
//! devices, UDCs, and the mode and owner of /dev/video*, /dev/hidg* and the configfs gadget
//! directory. This is the only file of `board` that reads the file system; everything read is
//! input and may be missing or malformed (then the fact is simply absent).

use super::spec::DT_PROPERTIES;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Deepest device-tree level walked (a Pi's tree is about 6 deep).
const DT_MAX_DEPTH: usize = 12;
/// Most device-tree nodes recorded (a Pi 4 has about 600).
const DT_MAX_NODES: usize = 20_000;

/// One /sys/class/video4linux/videoN.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VideoNode {
    /// `video0`.
    pub node: String,
    /// The `name` attribute (`unicam-image`, `USB Video: USB Video`).
    pub name: Option<String>,
    /// The driver of `device/` (`uvcvideo`, `unicam`).
    pub driver: Option<String>,
    /// VID:PID of the USB device above `device/`, for USB devices.
    pub usb_id: Option<(u16, u16)>,
}

/// One /sys/bus/usb/devices entry with ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsbDevice {
    /// Bus path (`1-1.2`).
    pub path: String,
    /// VID:PID.
    pub id: (u16, u16),
    /// The `product` string.
    pub product: Option<String>,
}

/// A device-tree node and the properties the doctor compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DtNode {
    /// Path below the tree's root (`soc/usb@7e980000`).
    pub path: String,
    /// `compatible`, `dr_mode`, `status` when present, split at NULs.
    pub props: BTreeMap<String, Vec<String>>,
}

impl DtNode {
    /// The node's own name (`usb@7e980000`).
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// Mode and owner of a file under the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// Path below the root (`dev/video0`).
    pub path: String,
    /// Permission bits (`0o660`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

/// Everything `detect` and `doctor` look at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// /proc/device-tree/model without its NUL.
    pub model: Option<String>,
    /// /proc/device-tree/compatible, split at NULs.
    pub compatible: Vec<String>,
    /// Which device-tree directory was read, if any.
    pub dt_dir: Option<String>,
    /// Device-tree nodes.
    pub dt_nodes: Vec<DtNode>,
    /// /sys/class/video4linux/video*, by node name.
    pub videos: Vec<VideoNode>,
    /// (driver, device) for each I²C device bound to a driver (`("tc358743", "10-000f")`).
    pub i2c_bound: Vec<(String, String)>,
    /// USB devices with ids.
    pub usb_devices: Vec<UsbDevice>,
    /// /sys/class/udc entries.
    pub udcs: Vec<String>,
    /// /dev/video* and /dev/hidg*.
    pub dev_nodes: Vec<FileMeta>,
    /// /sys/kernel/config/usb_gadget, when it exists.
    pub configfs: Option<FileMeta>,
}

/// Who runs the check (for permissions): uid and every group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Effective uid.
    pub uid: u32,
    /// Primary and supplementary groups.
    pub gids: Vec<u32>,
}

impl Identity {
    /// This process, from /proc/self/status; when that cannot be read, an identity with no
    /// owner or group rights, so only world-writable files pass.
    pub fn current() -> Identity {
        let text = fs::read_to_string("/proc/self/status").unwrap_or_default();
        parse_status(&text).unwrap_or(Identity {
            uid: u32::MAX,
            gids: Vec::new(),
        })
    }
}

/// `Uid:` (effective, the second number) and `Gid:`/`Groups:` of /proc/PID/status.
pub fn parse_status(text: &str) -> Option<Identity> {
    let field = |key: &str| {
        text.lines().find_map(|l| l.strip_prefix(key)).map(|rest| {
            rest.split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect()
        })
    };
    let uids: Vec<u32> = field("Uid:")?;
    let mut gids: Vec<u32> = field("Gid:").unwrap_or_default();
    gids.truncate(2);
    gids.extend(field("Groups:").unwrap_or_default());
    Some(Identity {
        uid: *uids.get(1).or(uids.first())?,
        gids,
    })
}

fn read_text(path: &Path) -> Option<String> {
    let bytes = fs::read(path).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim_end_matches(['\0', '\n', ' ']).trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// NUL-separated strings (device-tree string lists).
fn read_list(path: &Path) -> Vec<String> {
    fs::read(path)
        .map(|b| {
            String::from_utf8_lossy(&b)
                .split(['\0', '\n'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn hex_id(dir: &Path) -> Option<(u16, u16)> {
    let v = u16::from_str_radix(&read_text(&dir.join("idVendor"))?, 16).ok()?;
    let p = u16::from_str_radix(&read_text(&dir.join("idProduct"))?, 16).ok()?;
    Some((v, p))
}

fn meta(root: &Path, rel: &str) -> Option<FileMeta> {
    let m = fs::metadata(root.join(rel)).ok()?;
    Some(FileMeta {
        path: rel.to_string(),
        mode: m.mode() & 0o7777,
        uid: m.uid(),
        gid: m.gid(),
    })
}

fn walk_dt(dir: &Path, rel: &str, depth: usize, out: &mut Vec<DtNode>) {
    if depth > DT_MAX_DEPTH || out.len() >= DT_MAX_NODES {
        return;
    }
    let mut props = BTreeMap::new();
    for p in DT_PROPERTIES {
        let f = dir.join(p);
        if f.is_file() {
            props.insert(p.to_string(), read_list(&f));
        }
    }
    out.push(DtNode {
        path: rel.to_string(),
        props,
    });
    for name in names(dir) {
        let sub = dir.join(&name);
        // Nodes are directories; symlinks would loop.
        let is_dir = fs::symlink_metadata(&sub)
            .map(|m| m.is_dir())
            .unwrap_or(false);
        if is_dir {
            let rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            walk_dt(&sub, &rel, depth + 1, out);
        }
    }
}

fn video_node(class: &Path, node: &str) -> VideoNode {
    let dir = class.join(node);
    let device = dir.join("device");
    let driver = fs::read_link(device.join("driver"))
        .ok()
        .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()));
    // A UVC node's device is the USB interface; the USB device with the ids is its parent.
    let usb_id = fs::canonicalize(&device)
        .ok()
        .and_then(|d| d.parent().map(Path::to_path_buf))
        .and_then(|p| hex_id(&p));
    VideoNode {
        node: node.to_string(),
        name: read_text(&dir.join("name")),
        driver,
        usb_id,
    }
}

/// Reads the snapshot from `root`.
pub fn read(root: &Path) -> Snapshot {
    let mut s = Snapshot::default();
    let dt = ["proc/device-tree", "sys/firmware/devicetree/base"]
        .into_iter()
        .find(|d| root.join(d).is_dir());
    if let Some(d) = dt {
        let dir: PathBuf = root.join(d);
        s.dt_dir = Some(d.to_string());
        s.model = read_text(&dir.join("model"));
        s.compatible = read_list(&dir.join("compatible"));
        walk_dt(&dir, "", 0, &mut s.dt_nodes);
    }
    let class = root.join("sys/class/video4linux");
    s.videos = names(&class)
        .iter()
        .filter(|n| n.starts_with("video"))
        .map(|n| video_node(&class, n))
        .collect();
    let i2c = root.join("sys/bus/i2c/drivers");
    for drv in names(&i2c) {
        for dev in names(&i2c.join(&drv)) {
            // Bound devices are "BUS-ADDR" links (10-000f); the rest are bind/unbind/uevent.
            if dev.contains('-') && dev.split('-').all(|p| !p.is_empty()) {
                s.i2c_bound.push((drv.clone(), dev));
            }
        }
    }
    let usb = root.join("sys/bus/usb/devices");
    for path in names(&usb) {
        if let Some(id) = hex_id(&usb.join(&path)) {
            let product = read_text(&usb.join(&path).join("product"));
            s.usb_devices.push(UsbDevice { path, id, product });
        }
    }
    s.udcs = names(&root.join("sys/class/udc"));
    s.dev_nodes = names(&root.join("dev"))
        .iter()
        .filter(|n| n.starts_with("video") || n.starts_with("hidg"))
        .filter_map(|n| meta(root, &format!("dev/{n}")))
        .collect();
    s.configfs = meta(root, "sys/kernel/config/usb_gadget");
    s
}
